//! Authority that holds (issue: only administrators administer, removed devices never come
//! back): a device removed from the account stays removed when the account is unbound and bound
//! again — on container files and on PostgreSQL.

mod common;
use common::service::{alice_with_a_password, connect_by_witness, Postgres, Service};
use common::*;

use std::path::Path;

fn removal_outlives_a_rebind(service: &Service) {
    let (a, x) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, x) = (a.path(), x.path());
    alice_with_a_password(service, a);
    connect_by_witness(service, a, x);
    ok_in(x, &["account", "sync"]);
    let udf_x = json_in(x, &["account", "info"])["DeviceUdf"]
        .as_str()
        .unwrap()
        .to_string();
    ok_in(a, &["device", "delete", &udf_x]);
    let removed = |dir: &Path| {
        let error = fails_in(dir, DEVICE_PASS, &["account", "sync"]);
        assert!(error.contains("removed from the account"), "{error}");
    };
    removed(x);
    // The administrator unbinds and binds again (today's way to move an account): a fresh start
    // for the service's own records, but the removal is in the account's access catalog, which
    // the bind uploads.
    ok_in(a, &["account", "unbind"]);
    ok_in(a, &["account", "bind", "--service", &service.url]);
    removed(x);
    let error = fails_in(
        x,
        DEVICE_PASS,
        &["password", "add", "injected.example", "u", "p"],
    );
    assert!(!error.contains("panicked"), "{error}");
    ok_in(a, &["account", "sync"]);
    let listed = json_in(a, &["password", "list"]).to_string();
    assert!(!listed.contains("injected.example"), "{listed}");
    // The administrator carries on.
    ok_in(
        a,
        &["password", "add", "after-rebind.example", "alice", "p"],
    );
}

#[test]
fn a_removed_device_stays_removed_on_container_files() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), None);
    removal_outlives_a_rebind(&service);
}

#[test]
fn a_removed_device_stays_removed_on_postgresql() {
    let pg = Postgres::start();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(data.path(), Some(&pg.url));
    removal_outlives_a_rebind(&service);
}
