//! Vocabularies the generator builds applications from, and the casing
//! conventions of each language.

/// A business domain: what an application is about.
#[derive(Debug)]
pub(crate) struct Domain {
    pub name: &'static str,
    pub nouns: &'static [&'static str],
    /// Field names, as lowercase words joined by `_`.
    pub attributes: &'static [&'static str],
}

pub(crate) const DOMAINS: &[Domain] = &[
    Domain {
        name: "billing",
        nouns: &[
            "invoice",
            "payment",
            "tax",
            "refund",
            "subscription",
            "customer",
            "discount",
            "ledger",
        ],
        attributes: &[
            "amount",
            "total",
            "currency",
            "tax_region",
            "due_date",
            "customer_id",
            "line_items",
            "tax_rate",
        ],
    },
    Domain {
        name: "orders",
        nouns: &[
            "order",
            "cart",
            "item",
            "shipment",
            "coupon",
            "address",
            "warehouse",
            "stock",
        ],
        attributes: &[
            "quantity",
            "sku",
            "unit_price",
            "status",
            "order_id",
            "zip_code",
            "items",
            "reserved_at",
        ],
    },
    Domain {
        name: "accounts",
        nouns: &[
            "user", "session", "token", "profile", "role", "team", "invite", "device",
        ],
        attributes: &[
            "email",
            "locale",
            "user_id",
            "expires_at",
            "role_name",
            "permissions",
            "last_login",
            "time_zone",
        ],
    },
    Domain {
        name: "catalog",
        nouns: &[
            "product",
            "category",
            "variant",
            "price",
            "image",
            "review",
            "inventory",
            "brand",
        ],
        attributes: &[
            "title",
            "slug",
            "price_cents",
            "variant_id",
            "thumbnail_url",
            "rating",
            "stock_level",
            "attributes",
        ],
    },
    Domain {
        name: "messaging",
        nouns: &[
            "message",
            "channel",
            "template",
            "notification",
            "recipient",
            "attachment",
            "thread",
            "digest",
        ],
        attributes: &[
            "body",
            "subject",
            "channel_id",
            "sent_at",
            "recipients",
            "content_type",
            "retry_count",
            "payload",
        ],
    },
    Domain {
        name: "analytics",
        nouns: &[
            "report",
            "metric",
            "dashboard",
            "query",
            "export",
            "segment",
            "funnel",
            "cohort",
        ],
        attributes: &[
            "range",
            "interval",
            "metric_name",
            "filters",
            "row_count",
            "group_by",
            "started_at",
            "buckets",
        ],
    },
    Domain {
        name: "shipping",
        nouns: &[
            "parcel", "route", "carrier", "label", "tracking", "depot", "pickup", "rate",
        ],
        attributes: &[
            "weight",
            "tracking_number",
            "carrier_code",
            "eta",
            "dimensions",
            "depot_id",
            "service_level",
            "country",
        ],
    },
];

pub(crate) const ORGS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "vandelay",
];

/// Verbs by layer: entry points (controllers, jobs), services, data access
/// and clients, helpers.
pub(crate) const VERBS: [&[&str]; 4] = [
    &[
        "handle", "create", "update", "show", "list", "submit", "process", "import", "export",
        "cancel",
    ],
    &[
        "apply",
        "calculate",
        "compute",
        "validate",
        "build",
        "prepare",
        "resolve",
        "sync",
        "schedule",
        "reserve",
        "charge",
        "merge",
    ],
    &[
        "load", "fetch", "find", "save", "get", "query", "parse", "decode", "send", "post", "read",
        "store",
    ],
    &[
        "format",
        "normalize",
        "convert",
        "split",
        "round",
        "serialize",
        "sanitize",
        "lookup",
    ],
];

/// What a refactor renames a verb to.
pub(crate) const SYNONYMS: &[(&str, &str)] = &[
    ("compute", "calculate"),
    ("calculate", "compute"),
    ("load", "fetch"),
    ("fetch", "load"),
    ("get", "find"),
    ("find", "get"),
    ("create", "build"),
    ("build", "create"),
    ("validate", "check"),
    ("send", "deliver"),
    ("handle", "process"),
    ("process", "handle"),
    ("parse", "decode"),
    ("decode", "parse"),
    ("save", "persist"),
    ("store", "save"),
    ("update", "modify"),
    ("show", "render"),
    ("format", "render"),
    ("normalize", "clean"),
    ("sync", "refresh"),
    ("prepare", "setup"),
    ("apply", "run"),
    ("reserve", "hold"),
    ("query", "search"),
    ("read", "load"),
];

/// Words a refactor appends when the verb has no synonym.
pub(crate) const RENAME_SUFFIXES: &[&str] = &["internal", "v2", "impl", "safe", "all"];

/// Package names a refactor moves a file into.
pub(crate) const MOVED_PACKAGES: &[&str] = &["core", "domain", "legacy", "common", "shared"];

/// Values that end up in exception messages.
pub(crate) const BAD_INPUTS: &[&str] = &[
    "abc", "N/A", "null", "12.5.0", "XX", "ZZ", "none", "-", "1e9", "0x1F", "true", "TBD",
];
pub(crate) const HOSTS: &[&str] = &[
    "db-1.internal",
    "db-2.internal",
    "cache-0.internal",
    "payments.example.net",
    "api.partner.example.com",
    "10.0.3.17",
    "10.0.8.4",
];

pub(crate) fn pascal(words: &[String]) -> String {
    words.iter().map(|w| capitalize(w)).collect()
}

pub(crate) fn camel(words: &[String]) -> String {
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i == 0 {
            out.push_str(word);
        } else {
            out.push_str(&capitalize(word));
        }
    }
    out
}

pub(crate) fn snake(words: &[String]) -> String {
    words.join("_")
}

pub(crate) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `category` → `categories`, `address` → `addresses`, `order` → `orders`.
pub(crate) fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else if noun.ends_with('s') || noun.ends_with('x') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// Splits `tax_region` into `["tax", "region"]`.
pub(crate) fn split(name: &str) -> Vec<String> {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casings() {
        let words = split("compute_tax_rate");
        assert_eq!(pascal(&words), "ComputeTaxRate");
        assert_eq!(camel(&words), "computeTaxRate");
        assert_eq!(snake(&words), "compute_tax_rate");
    }
}
