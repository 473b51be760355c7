use super::*;
use crate::{Config, transform_record};
use serde_json::{Value, json};
use weir_plugin_sdk::testing::{body, ok_docs};

#[test]
fn types_from_verbs() {
    for (name, want) in [
        (Some("CreateUser"), "creation"),
        (Some("RunInstances"), "creation"),
        (Some("DeleteTrail"), "deletion"),
        (Some("PutObject"), "change"),
        (Some("GetObject"), "access"),
        (Some("ConsoleLogin"), "start"),
        (Some("Createx"), "info"),
        (Some("AssumeRole"), "info"),
        (None, "info"),
    ] {
        assert_eq!(event_type(name), [want], "{name:?}");
    }
    assert_eq!(
        category(Some("ec2.amazonaws.com"), None, &["change"]),
        ["configuration"]
    );
    assert!(category(Some("ec2.amazonaws.com"), None, &["access"]).is_empty());
    assert_eq!(
        category(Some("iam.amazonaws.com"), None, &["access"]),
        ["iam"]
    );
    assert_eq!(
        category(None, Some("AwsConsoleSignIn"), &["start"]),
        ["authentication"]
    );
}
fn docs(record: &str) -> Vec<Value> {
    ok_docs(transform_record(record.as_bytes(), &Config::default()))
        .iter()
        .map(body)
        .collect()
}

fn without_ecs(record: &str) -> Vec<Value> {
    let config = crate::parse_config(r#"{"ecs":false}"#).unwrap();
    ok_docs(transform_record(record.as_bytes(), &config))
        .iter()
        .map(body)
        .collect()
}

const LOGIN: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:bob","arn":"arn:aws:sts::111122223333:assumed-role/Admin/bob","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"}}},"eventTime":"2023-01-02T03:04:05Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"81.2.69.142","userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"eventID":"e-1","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}"#;

#[test]
fn ecs_of_a_console_login_in_every_framing() {
    weir_plugin_sdk::testing::set_geoip(
        "81.2.69.142",
        weir_plugin_sdk::testing::sample_geo("GB", "London", 51.5, -0.09, 20712, "AAISP"),
    );
    let cwl = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "ct",
        "logStream": "s", "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": LOGIN}]})
    .to_string();
    let file = format!(r#"{{"Records":[{LOGIN}]}}"#);
    for record in [LOGIN, file.as_str(), cwl.as_str()] {
        let b = &docs(record)[0];
        assert_eq!(b["@timestamp"], "2023-01-02T03:04:05.000Z");
        assert_eq!(
            b["event"],
            json!({"kind": "event", "category": ["authentication"], "type": ["start"],
                "action": "ConsoleLogin", "outcome": "failure", "provider": "signin.amazonaws.com",
                "dataset": "aws.cloudtrail", "id": "e-1"})
        );
        assert_eq!(
            b["cloud"],
            json!({"provider": "aws", "account": {"id": "111122223333"}, "region": "us-east-1"})
        );
        assert_eq!(b["source"]["ip"], "81.2.69.142");
        assert_eq!(b["source"]["geo"]["country_iso_code"], "GB");
        assert_eq!(b["user"], json!({"name": "Admin"}));
        assert_eq!(b["user_agent"], json!({"original": "Mozilla/5.0"}));
        assert_eq!(b["related"], json!({"ip": ["81.2.69.142"]}));
        // without ECS: the same document, the ECS roots aside
        let mut on = b.clone();
        for root in weir_plugin_sdk::ecs::ROOTS {
            on.as_object_mut().unwrap().shift_remove(root);
        }
        assert_eq!(on, without_ecs(record)[0], "{record}");
    }
}

#[test]
fn service_names_users_and_odd_values() {
    let event = json!({"eventVersion": "1.08", "eventTime": "2023-01-02T03:04:05Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "sourceIPAddress": "autoscaling.amazonaws.com", "errorCode": "Client.Unauthorized",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root",
                         "accountId": "111122223333"}});
    let b = &docs(&event.to_string())[0];
    assert_eq!(b["source"], json!({"address": "autoscaling.amazonaws.com"}));
    assert!(b.get("related").is_none());
    assert_eq!(b["user"], json!({"name": "root"}));
    assert_eq!(b["cloud"]["account"]["id"], "111122223333");
    assert_eq!(b["event"]["outcome"], "failure");
    assert_eq!(b["event"]["category"], json!(["configuration"]));
    assert_eq!(b["event"]["type"], json!(["creation"]));
    // an unusable eventTime: no `@timestamp`, no failure
    let mut late = event.clone();
    late["eventTime"] = json!("yesterday");
    let b = &docs(&late.to_string())[0];
    assert!(b.get("@timestamp").is_none());
    assert_eq!(b["event"]["action"], "RunInstances");
    // a userIdentity of another type: no ECS fields, the event as it came
    let mut odd = event.clone();
    odd["userIdentity"] = json!("someone");
    assert_eq!(docs(&odd.to_string()), without_ecs(&odd.to_string()));
}

#[test]
fn the_events_own_roots_and_at_timestamp() {
    let event = r#"{"eventVersion":"1.08","@timestamp":"theirs","eventTime":"2023-01-02T03:04:05Z","eventName":"GetObject","source":"theirs","sourceIPAddress":"10.0.0.1"}"#;
    let file = format!(r#"{{"Records":[{event}]}}"#);
    for record in [event, file.as_str()] {
        let d = ok_docs(transform_record(record.as_bytes(), &Config::default()));
        assert_eq!(d[0].body.matches(r#""@timestamp""#).count(), 1);
        assert_eq!(d[0].body.matches(r#""source":"#).count(), 1);
        let b = body(&d[0]);
        assert_eq!(b["@timestamp"], "2023-01-02T03:04:05.000Z");
        assert_eq!(b["source"], "theirs");
        assert_eq!(b["related"], json!({"ip": ["10.0.0.1"]}));
        assert_eq!(b["event"]["type"], json!(["access"]));
        assert!(b["event"].get("category").is_none());
    }
}

#[test]
fn other_log_events_get_no_ecs() {
    let cwl = json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "app",
        "logStream": "s", "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": r#"{"user":"bob","level":"info"}"#}]})
    .to_string();
    assert_eq!(docs(&cwl), without_ecs(&cwl));
}
