//! The account's catalogs (schema-08 §4) by name, and which entry type each holds.

use mesh_schema::MeshItem;

use crate::{ClientError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogKind {
    Access,
    Application,
    Bookmark,
    Contact,
    Credential,
    Device,
    Network,
    Publication,
    Task,
}

impl CatalogKind {
    pub const ALL: [CatalogKind; 9] = [
        Self::Access,
        Self::Application,
        Self::Bookmark,
        Self::Contact,
        Self::Credential,
        Self::Device,
        Self::Network,
        Self::Publication,
        Self::Task,
    ];

    /// The catalog's container name (`MMM_Credential`, …; the Task catalog is `MMM_Calendar`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Access => "MMM_Access",
            Self::Application => "MMM_Application",
            Self::Bookmark => "MMM_Bookmark",
            Self::Contact => "MMM_Contact",
            Self::Credential => "MMM_Credential",
            Self::Device => "MMM_Device",
            Self::Network => "MMM_Network",
            Self::Publication => "MMM_Publication",
            Self::Task => "MMM_Calendar",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| ClientError::Invalid(format!("unknown catalog '{name}'")))
    }

    /// The key an entry is found by: the service of a credential, the address of a contact, …
    pub fn key_of(item: &MeshItem) -> Option<String> {
        match item {
            MeshItem::CatalogedCredential(c) => c.service.clone(),
            MeshItem::CatalogedNetwork(c) => c.service.clone(),
            MeshItem::CatalogedContact(c) => c.key.clone(),
            MeshItem::CatalogedBookmark(b) => b.uri.clone(),
            MeshItem::CatalogedTask(t) => t.key.clone(),
            MeshItem::CatalogedApplicationSsh(a) => a.key.clone(),
            MeshItem::CatalogedApplication(a) => a.key.clone(),
            MeshItem::CatalogedApplicationMail(a) => a.key.clone(),
            MeshItem::CatalogedDevice(d) => d.udf.clone(),
            MeshItem::CatalogedPublication(p) => p.id.clone(),
            MeshItem::CatalogedAccess(a) => a.key.clone(),
            _ => None,
        }
    }

    /// Is this a catalog the service reads (the access catalog)? Its entries are then not
    /// encrypted to the account and are found by their key itself (a capability Id, which tells
    /// nothing).
    pub fn read_by_service(self) -> bool {
        self == Self::Access
    }

    /// Is this a catalog only the administrator changes (the devices and their rights)? Every
    /// entry of it, deletions included, is signed by the administrator key over the entry's
    /// metadata and payload, and the service takes no other.
    pub fn administered(self) -> bool {
        matches!(self, Self::Access | Self::Device)
    }

    /// Refuse an entry of a type this catalog does not hold.
    pub fn check(self, item: &MeshItem) -> Result<()> {
        let ok = matches!(
            (self, item),
            (Self::Access, MeshItem::CatalogedAccess(_))
                | (Self::Application, MeshItem::CatalogedApplication(_))
                | (Self::Application, MeshItem::CatalogedApplicationSsh(_))
                | (Self::Application, MeshItem::CatalogedApplicationMail(_))
                | (Self::Bookmark, MeshItem::CatalogedBookmark(_))
                | (Self::Contact, MeshItem::CatalogedContact(_))
                | (Self::Credential, MeshItem::CatalogedCredential(_))
                | (Self::Device, MeshItem::CatalogedDevice(_))
                | (Self::Network, MeshItem::CatalogedNetwork(_))
                | (Self::Publication, MeshItem::CatalogedPublication(_))
                | (Self::Task, MeshItem::CatalogedTask(_))
        );
        if ok {
            Ok(())
        } else {
            Err(ClientError::Invalid(format!(
                "a {} does not belong in {}",
                item.type_name(),
                self.name()
            )))
        }
    }
}
