//! Renderings of the ECS members that depend only on a few fields that
//! repeat from one log to the next (the `event` members but its `id`,
//! `cloud`, `rule`): a log whose fields equal those of one of the last
//! [`ENTRIES`] renderings copies its text instead of writing it again (one
//! `push_str` instead of a dozen keys and escaped strings). Kept for the
//! instance.

use std::cell::RefCell;

use super::Ecs;
use super::write::{Obj, k};
use crate::json::same_str;

/// Renderings, each with the fields it was written from: the last
/// [`ENTRIES`] distinct keys (logs of a batch mostly repeat a few web
/// ACLs, actions, accounts), the most recent first.
struct Entries<K> {
    entries: Vec<(K, String)>,
}

/// Renderings kept per root.
const ENTRIES: usize = 16;

impl<K> Default for Entries<K> {
    fn default() -> Self {
        Entries {
            entries: Vec::new(),
        }
    }
}

impl<K> Entries<K> {
    /// The rendering whose key `is` accepts, else the one `write` renders
    /// for `key()` (kept in place of the oldest when full).
    fn get(
        &mut self,
        is: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        write: impl FnOnce(&mut Obj<'_>),
    ) -> &str {
        let at = match self.entries.iter().position(|(k, _)| is(k)) {
            Some(at) => at,
            None => {
                let mut members = String::new();
                write(&mut Obj {
                    out: &mut members,
                    empty: true,
                    verbatim: false,
                });
                if self.entries.len() == ENTRIES {
                    self.entries.pop();
                }
                self.entries.insert(0, (key(), members));
                0
            }
        };
        self.entries.get(at).map_or("", |(_, m)| m.as_str())
    }
}

/// The `event` fields before `id`: the static ones by address (they are
/// constants of the plugin; a different address only costs a rendering).
struct EventKey {
    kind: Option<&'static str>,
    category: (usize, usize),
    types: (usize, usize),
    action: Option<String>,
    outcome: Option<&'static str>,
    provider: Option<String>,
    dataset: Option<&'static str>,
}

#[derive(Default)]
struct Memo {
    event: Entries<EventKey>,
    cloud: Entries<[Option<String>; 2]>,
    rule: Entries<[Option<String>; 3]>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// A key field's owned copy, made only on a miss (a hit compares the
/// borrowed fields with the stored copies, without allocating).
fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

fn addr(s: &'static [&'static str]) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

impl Ecs<'_> {
    /// `kind` … `dataset` of `event` (not `id`).
    pub(super) fn event_members(&self, o: &mut Obj<'_>) {
        MEMO.with_borrow_mut(|m| {
            let members = m.event.get(
                |key| {
                    same_str(key.action.as_deref(), self.action)
                        && same_str(key.provider.as_deref(), self.provider)
                        && same_str(key.kind, self.kind)
                        && key.category == addr(self.category)
                        && key.types == addr(self.types)
                        && same_str(key.outcome, self.outcome)
                        && same_str(key.dataset, self.dataset)
                },
                || EventKey {
                    kind: self.kind,
                    category: addr(self.category),
                    types: addr(self.types),
                    action: owned(self.action),
                    outcome: self.outcome,
                    provider: owned(self.provider),
                    dataset: self.dataset,
                },
                |o| {
                    o.lit(k!("kind"), self.kind);
                    o.strs(k!("category"), self.category);
                    o.strs(k!("type"), self.types);
                    o.str(k!("action"), self.action);
                    o.lit(k!("outcome"), self.outcome);
                    o.str(k!("provider"), self.provider);
                    o.lit(k!("dataset"), self.dataset);
                },
            );
            o.members(members);
        });
    }

    /// The members of `cloud`.
    pub(super) fn cloud_members(&self, o: &mut Obj<'_>) {
        MEMO.with_borrow_mut(|m| {
            let members = m.cloud.get(
                |[account, region]| {
                    same_str(account.as_deref(), self.account_id)
                        && same_str(region.as_deref(), self.region)
                },
                || [owned(self.account_id), owned(self.region)],
                |o| {
                    let any = self.account_id.is_some() || self.region.is_some();
                    o.lit(k!("provider"), any.then_some("aws"));
                    o.obj(k!("account"), |a| a.str(k!("id"), self.account_id));
                    o.str(k!("region"), self.region);
                },
            );
            o.members(members);
        });
    }

    /// The members of `rule`.
    pub(super) fn rule_members(&self, o: &mut Obj<'_>) {
        MEMO.with_borrow_mut(|m| {
            let members = m.rule.get(
                |[id, name, ruleset]| {
                    same_str(id.as_deref(), self.rule_id)
                        && same_str(ruleset.as_deref(), self.ruleset)
                        && same_str(name.as_deref(), self.rule_name)
                },
                || {
                    [
                        owned(self.rule_id),
                        owned(self.rule_name),
                        owned(self.ruleset),
                    ]
                },
                |o| {
                    o.str(k!("id"), self.rule_id);
                    o.str(k!("name"), self.rule_name);
                    o.str(k!("ruleset"), self.ruleset);
                },
            );
            o.members(members);
        });
    }
}
