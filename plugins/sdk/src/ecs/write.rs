//! [`Obj`]: the JSON writer of the ECS members.

use std::net::IpAddr;

use crate::json::push_json_string;

/// A key as written in a member: `k!("kind")` is `"kind":` (this module's
/// keys need no escaping).
macro_rules! k {
    ($key:literal) => {
        concat!("\"", $key, "\":")
    };
}
pub(super) use k;

/// A JSON object being written: members appended, an object left out when
/// nothing was written into it.
pub(super) struct Obj<'o> {
    pub(super) out: &'o mut String,
    pub(super) empty: bool,
    /// The strings written need no escaping ([`Ecs::verbatim`](super::Ecs::verbatim)).
    pub(super) verbatim: bool,
}

impl Obj<'_> {
    /// Start a member: `key` is its key as written, quoted, with the colon
    /// ([`k!`]).
    #[inline]
    pub(super) fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(key);
    }

    /// A member whose value needs no escaping (this module's constants).
    #[inline]
    pub(super) fn lit(&mut self, key: &str, value: Option<&'static str>) {
        if let Some(value) = value {
            self.key(key);
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
    }

    /// Members already written (`"a":…,"b":…`), after the others.
    #[inline]
    pub(super) fn members(&mut self, members: &str) {
        if members.is_empty() {
            return;
        }
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(members);
    }

    #[inline]
    pub(super) fn str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.key(key);
            if self.verbatim {
                self.quoted(value);
            } else {
                push_json_string(self.out, value);
            }
        }
    }

    /// An IP address's text (as `IpAddr` parsed it: digits, dots, colons
    /// and hex letters, nothing to escape).
    #[inline]
    pub(super) fn ip(&mut self, key: &str, ip: &str) {
        self.key(key);
        self.quoted(ip);
    }

    /// `value` in quotes, as it is: the caller knows it needs no escaping.
    #[inline]
    fn quoted(&mut self, value: &str) {
        self.out.reserve(value.len() + 2);
        self.out.push('"');
        self.out.push_str(value);
        self.out.push('"');
    }

    #[inline]
    pub(super) fn num(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.key(key);
            crate::json::push_u64(self.out, value);
        }
    }

    #[inline]
    pub(super) fn strs(&mut self, key: &str, values: &[&str]) {
        if values.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            // this module's constants: nothing to escape
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
        self.out.push(']');
    }

    /// `related.ip`: every IP once, in order.
    pub(super) fn ips(
        &mut self,
        key: &str,
        a: Option<(&str, IpAddr)>,
        b: Option<(&str, IpAddr)>,
        more: &[&str],
    ) {
        let b = b.filter(|(_, ip)| a.is_none_or(|(_, first)| first != *ip));
        let mut wrote = false;
        for (text, _) in a.into_iter().chain(b) {
            self.list_item(key, &mut wrote, text);
        }
        // the rest checked against a list (no allocation without them)
        let mut seen: Vec<IpAddr> = Vec::new();
        for text in more {
            let Ok(ip) = text.parse::<IpAddr>() else {
                continue;
            };
            let known = |x: Option<(&str, IpAddr)>| x.is_some_and(|(_, known)| known == ip);
            if known(a) || known(b) || seen.contains(&ip) {
                continue;
            }
            seen.push(ip);
            self.list_item(key, &mut wrote, text);
        }
        if wrote {
            self.out.push(']');
        }
    }

    /// One string of a list member `key`, opening it first (`wrote`).
    #[inline]
    fn list_item(&mut self, key: &str, wrote: &mut bool, text: &str) {
        if *wrote {
            self.out.push(',');
        } else {
            self.key(key);
            self.out.push('[');
            *wrote = true;
        }
        // an address that parsed as an IP: nothing to escape
        self.quoted(text);
    }

    /// A member holding an object written by `f`; left out when `f` writes
    /// nothing.
    #[inline]
    pub(super) fn obj(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>)) {
        let mark = self.out.len();
        let was_empty = self.empty;
        self.key(key);
        self.out.push('{');
        let mut child = Obj {
            out: self.out,
            empty: true,
            verbatim: self.verbatim,
        };
        f(&mut child);
        if child.empty {
            self.out.truncate(mark);
            self.empty = was_empty;
        } else {
            self.out.push('}');
        }
    }
}
