#![allow(clippy::unwrap_used)]

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/geoip")
        .join(name)
}

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-geoip-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn both() -> GeoIp {
    GeoIp::open(
        Some(&fixture("GeoIP2-City-Test.mmdb")),
        Some(&fixture("GeoLite2-ASN-Test.mmdb")),
    )
    .unwrap()
}

#[test]
fn a_public_address_gets_country_city_location_and_as() {
    let geo = both().lookup("89.160.20.128").unwrap();
    assert_eq!(geo.country_iso_code.as_deref(), Some("SE"));
    assert_eq!(geo.city_name.as_deref(), Some("Linköping"));
    assert_eq!(geo.location, Some((58.4167, 15.6167)));
    assert_eq!(geo.as_number, Some(29518));
    assert_eq!(geo.as_organization.as_deref(), Some("Bredband2 AB"));
    // an AS without an organisation, in a city database that does not know it
    let geo = both().lookup("216.160.83.56").unwrap();
    assert_eq!(geo.as_number, Some(209));
    assert_eq!(geo.as_organization, None);
}

#[test]
fn private_invalid_and_unknown_addresses_get_nothing() {
    let g = both();
    for ip in [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "",
        "-",
        "not an ip",
        "300.1.1.1",
        "1.2.3",
        "ec2.amazonaws.com",
        "89.160.20.128/32",
    ] {
        assert_eq!(g.lookup(ip), None, "{ip}");
    }
    // public but in neither test database
    assert_eq!(g.lookup("8.8.4.4"), None);
    // an IPv4-mapped IPv6 address is the IPv4 address
    assert_eq!(
        g.lookup("::ffff:89.160.20.128")
            .unwrap()
            .country_iso_code
            .as_deref(),
        Some("SE")
    );
}

#[test]
fn missing_corrupt_or_wrong_kind_databases_are_errors() {
    let missing = GeoIp::open(Some(Path::new("/nonexistent/city.mmdb")), None).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/city.mmdb"),
        "{missing}"
    );
    let dir = temp_dir("corrupt");
    let corrupt = dir.join("corrupt.mmdb");
    std::fs::write(&corrupt, b"not a maxmind database").unwrap();
    assert!(GeoIp::open(Some(&corrupt), None).is_err());
    let wrong = GeoIp::open(None, Some(&fixture("GeoIP2-City-Test.mmdb"))).unwrap_err();
    assert!(
        wrong.to_string().contains("expected one of [\"ASN\"]"),
        "{wrong}"
    );
}

#[test]
fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old() {
    let dir = temp_dir("reload");
    let path = dir.join("asn.mmdb");
    std::fs::copy(fixture("GeoLite2-ASN-Test.mmdb"), &path).unwrap();
    let g = GeoIp::open(None, Some(&path)).unwrap();
    assert_eq!(g.lookup("89.160.20.128").unwrap().as_number, Some(29518));
    assert!(matches!(g.reload_if_changed()[..], [Ok(false)]));

    // a corrupt replacement (by rename): an error, and the old one serves
    let tmp = dir.join("asn.tmp");
    std::fs::write(
        &tmp,
        b"garbage, and longer than before so the stamp differs",
    )
    .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(g.reload_if_changed()[..], [Err(_)]));
    assert_eq!(g.lookup("89.160.20.128").unwrap().as_number, Some(29518));

    // a good replacement of another kind of content: the city database
    // would be refused (wrong kind); the ASN one again is reloaded
    std::fs::copy(fixture("GeoLite2-ASN-Test.mmdb"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(g.reload_if_changed()[..], [Ok(true)]));
    assert_eq!(g.lookup("89.160.20.128").unwrap().as_number, Some(29518));
}

#[test]
fn answers_are_kept_until_a_reload_replaces_the_database() {
    let dir = temp_dir("answers");
    let path = dir.join("city.mmdb");
    std::fs::copy(fixture("GeoIP2-City-Test.mmdb"), &path).unwrap();
    let g = GeoIp::open(Some(&path), None).unwrap();
    let city = |g: &GeoIp| g.lookup("89.160.20.128").and_then(|geo| geo.city_name);
    assert_eq!(city(&g).as_deref(), Some("Linköping"));
    // kept: the same answer, also when asked with other spacing
    assert_eq!(city(&g).as_deref(), Some("Linköping"));
    assert_eq!(
        g.lookup(" 89.160.20.128")
            .unwrap()
            .country_iso_code
            .as_deref(),
        Some("SE")
    );
    // a Country database renamed over it: the kept answers are forgotten
    let tmp = dir.join("city.tmp");
    std::fs::copy(fixture("GeoIP2-Country-Test.mmdb"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(g.reload_if_changed()[..], [Ok(true)]));
    let geo = g.lookup("89.160.20.128").unwrap();
    assert_eq!(
        (geo.country_iso_code.as_deref(), geo.city_name),
        (Some("SE"), None)
    );
}
