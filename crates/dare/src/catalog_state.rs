//! A catalog's state: which frame holds the current value of each UniqueId. Kept as a map when
//! the catalog is walked or changed; as its index file lists it (sorted, the UniqueIds in one
//! buffer) when a catalog is only read, so that opening a catalog of any size to read one entry
//! makes nothing per entry: a lookup is a binary search. The first change turns it into a map.

use std::collections::BTreeMap;

/// UniqueId → index of the frame holding its current value.
pub enum Current {
    Map(BTreeMap<String, u64>),
    /// Sorted by UniqueId, strictly increasing: `(start, end, frame)` of each UniqueId within
    /// `ids`.
    Sorted {
        ids: String,
        entries: Vec<(u32, u32, u64)>,
    },
}

impl Default for Current {
    fn default() -> Self {
        Current::Map(BTreeMap::new())
    }
}

impl Current {
    /// The state as a sorted list (an index file's). `None` unless the UniqueIds are strictly
    /// increasing and the list fits (each UniqueId within the first 4 GiB of `ids`).
    pub fn sorted(ids: String, entries: Vec<(u32, u32, u64)>) -> Option<Current> {
        let ok = entries.iter().all(|(start, end, _)| {
            start <= end && (*end as usize) <= ids.len() && ids.is_char_boundary(*start as usize)
        }) && ids.is_char_boundary(ids.len())
            && entries.windows(2).all(|w| {
                ids[w[0].0 as usize..w[0].1 as usize] < ids[w[1].0 as usize..w[1].1 as usize]
            });
        ok.then_some(Current::Sorted { ids, entries })
    }

    pub fn get(&self, unique_id: &str) -> Option<u64> {
        match self {
            Current::Map(map) => map.get(unique_id).copied(),
            Current::Sorted { ids, entries } => entries
                .binary_search_by(|(start, end, _)| {
                    ids[*start as usize..*end as usize].cmp(unique_id)
                })
                .ok()
                .map(|at| entries[at].2),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Current::Map(map) => map.len(),
            Current::Sorted { entries, .. } => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every (UniqueId, frame), in UniqueId order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&str, u64)> + '_> {
        match self {
            Current::Map(map) => Box::new(map.iter().map(|(id, frame)| (id.as_str(), *frame))),
            Current::Sorted { ids, entries } => Box::new(
                entries
                    .iter()
                    .map(move |(start, end, frame)| (&ids[*start as usize..*end as usize], *frame)),
            ),
        }
    }

    /// The map, made from the sorted list the first time it is changed.
    pub fn map_mut(&mut self) -> &mut BTreeMap<String, u64> {
        if let Current::Sorted { .. } = self {
            let map = self
                .iter()
                .map(|(id, frame)| (id.to_string(), frame))
                .collect();
            *self = Current::Map(map);
        }
        match self {
            Current::Map(map) => map,
            Current::Sorted { .. } => unreachable!("made a map above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_map_agree() {
        let ids = "AAAABBBCC".to_string();
        let sorted = Current::sorted(ids, vec![(0, 4, 3), (4, 7, 5), (7, 9, 9)]).unwrap();
        assert_eq!(sorted.get("BBB"), Some(5));
        assert_eq!(sorted.get("AAAA"), Some(3));
        assert_eq!(sorted.get("CC"), Some(9));
        assert_eq!(sorted.get("B"), None);
        assert_eq!(sorted.len(), 3);
        let listed: Vec<_> = sorted.iter().collect();
        assert_eq!(listed, vec![("AAAA", 3), ("BBB", 5), ("CC", 9)]);
        let mut changed = sorted;
        changed.map_mut().insert("D".into(), 11);
        assert!(matches!(changed, Current::Map(_)));
        assert_eq!(changed.get("D"), Some(11));
        assert_eq!(changed.get("BBB"), Some(5));
    }

    #[test]
    fn out_of_order_or_out_of_bounds_is_refused() {
        assert!(Current::sorted("BBAA".into(), vec![(0, 2, 1), (2, 4, 2)]).is_none());
        assert!(Current::sorted("AABB".into(), vec![(0, 2, 1), (0, 2, 2)]).is_none());
        assert!(Current::sorted("AA".into(), vec![(0, 3, 1)]).is_none());
        assert!(Current::sorted("AA".into(), vec![(2, 1, 1)]).is_none());
    }
}
