use super::*;

#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Options {
    name: String,
    count: u32,
    #[serde(deserialize_with = "even")]
    even: u32,
}

fn even<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = <u32 as serde::Deserialize>::deserialize(d)?;
    if n % 2 == 0 {
        Ok(n)
    } else {
        Err(serde::de::Error::custom(format!("{n} is odd")))
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Required {
    #[allow(dead_code)]
    mode: String,
    #[allow(dead_code)]
    index: Option<String>,
}

#[test]
fn empty_text_and_empty_object_are_the_default() {
    for text in ["", " \n", "{}", " { } "] {
        assert_eq!(parse::<Options>(text).unwrap(), Options::default());
        assert_eq!(parse::<NoOptions>(text).unwrap(), NoOptions {});
    }
    let got = parse::<Options>(r#"{"name":"x","count":3,"even":4}"#).unwrap();
    assert_eq!((got.name.as_str(), got.count, got.even), ("x", 3, 4));
}

#[test]
fn errors_name_the_key() {
    let e = |text: &str| parse::<Options>(text).unwrap_err();
    assert_eq!(
        e(r#"{"name":"x","nmae":1}"#),
        "unknown option `nmae`, expected one of `name`, `count`, `even`"
    );
    assert!(e(r#"{"count":"3"}"#).starts_with("`count`: invalid type: string \"3\""));
    assert_eq!(e(r#"{"even":3}"#), "`even`: 3 is odd");
    assert_eq!(
        parse::<NoOptions>(r#"{"surprise":1}"#).unwrap_err(),
        "unknown option `surprise`: the plugin takes none"
    );
    assert_eq!(
        parse::<Required>(r#"{"index":"i"}"#).unwrap_err(),
        "missing field `mode`"
    );
    assert!(
        parse::<Required>(r#"{"mode":1}"#)
            .unwrap_err()
            .starts_with("`mode`: invalid type")
    );
}

#[test]
fn config_must_be_a_json_object() {
    assert_eq!(
        parse::<NoOptions>("[]").unwrap_err(),
        "plugin config must be a JSON object, got an array"
    );
    assert!(
        parse::<NoOptions>("{")
            .unwrap_err()
            .starts_with("plugin config is not valid JSON: ")
    );
}

#[test]
fn the_ecs_option() {
    assert!(parse::<EcsOption>("").unwrap().ecs);
    assert!(parse::<EcsOption>("{}").unwrap().ecs);
    assert!(!parse::<EcsOption>(r#"{"ecs": false}"#).unwrap().ecs);
    let e = parse::<EcsOption>(r#"{"ecs": "no"}"#).unwrap_err();
    assert!(e.starts_with("`ecs`: invalid type"), "{e}");
    let e = parse::<EcsOption>(r#"{"x": 1}"#).unwrap_err();
    assert!(e.starts_with("unknown option `x`"), "{e}");
    let schema: serde_json::Value = serde_json::from_str(ECS_OPTION_SCHEMA).unwrap();
    assert_eq!(schema["properties"]["ecs"]["default"], true);
    assert_eq!(schema["additionalProperties"], false);
}
