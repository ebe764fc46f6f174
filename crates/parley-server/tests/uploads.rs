//! Scenarios uploaded as native JSON, native TOML or a zipped Genius folder, and the
//! preview the lobby shows before a session is created.

use std::io::Write;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{start, CREATOR};

// Our own small Genius folder: a domain and two profiles.
const DOMAIN: &str = r#"<negotiation_template><utility_space><objective index="0" name="root">
<issue index="1" name="colour" type="discrete"><item index="1" value="red"/><item index="2" value="blue"/></issue>
<issue index="3" name="n" type="integer" lowerbound="0" upperbound="4"/>
</objective></utility_space></negotiation_template>"#;

const BUYER: &str = r#"<utility_space><objective index="0" name="root">
<issue index="1" name="colour" type="discrete"><item value="red" evaluation="2"/><item value="blue" evaluation="1"/></issue>
<issue index="3" name="n" type="integer"><evaluator ftype="linear" slope="0.25" offset="0"/></issue>
<weight index="1" value="0.5"/><weight index="3" value="0.5"/>
</objective><reservation value="0.3"/></utility_space>"#;

const SELLER: &str = r#"<utility_space><objective index="0" name="root">
<issue index="1" name="colour" type="discrete"><item value="red" evaluation="1"/><item value="blue" evaluation="3"/></issue>
<issue index="3" name="n" type="integer"><evaluator ftype="linear" slope="-0.25" offset="1"/></issue>
<weight index="1" value="0.7"/><weight index="3" value="0.3"/>
</objective><reservation value="0.2"/></utility_space>"#;

fn zipped(files: &[(&str, &str)]) -> String {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in files {
            zip.start_file(*name, options).expect("entry");
            zip.write_all(text.as_bytes()).expect("write");
        }
        zip.finish().expect("zip");
    }
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

const TOML: &str = r#"
name = "lease"
[[issues]]
name = "rent"
values = ["low", "high"]
[[parties]]
name = "tenant"
[[parties]]
name = "landlord"
"#;

async fn preview(server: &crate::common::Server, scenario: Value) -> crate::common::Reply {
    server
        .call(
            "POST",
            "/api/scenarios/preview",
            Some(CREATOR),
            Some(json!({ "scenario": scenario })),
        )
        .await
}

#[tokio::test]
async fn a_toml_agenda_previews_and_opens_a_session() {
    let server = start().await;
    let r = preview(&server, json!({"upload_toml": TOML})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "lease");
    assert_eq!(r.body["parties"], json!(["tenant", "landlord"]));
    assert_eq!(
        r.body["sets_own_preferences"],
        json!(["tenant", "landlord"])
    );
    assert_eq!(r.body["issues"][0]["values"], json!(["low", "high"]));
    let created = server
        .create_as_is(json!({
            "scenario": {"upload_toml": TOML}, "protocol": "saop", "rounds": 10,
            "roles": {"tenant": {"seat": "person"}, "landlord": {"seat": "person"}}
        }))
        .await;
    let view = server
        .call(
            "GET",
            &format!("/api/sessions/{}", created.id()),
            Some(created.seat("tenant")),
            None,
        )
        .await;
    assert_eq!(view.body["role"]["preferences_set"], false, "{}", view.body);
}

#[tokio::test]
async fn a_zipped_genius_folder_opens_a_session() {
    let server = start().await;
    let zip = zipped(&[
        ("shop/shop-domain.xml", DOMAIN),
        ("shop/buyer.xml", BUYER),
        ("shop/seller.xml", SELLER),
        ("__MACOSX/shop/._buyer.xml", "junk"),
        ("shop/readme.txt", "not a scenario file"),
    ]);
    let r = preview(&server, json!({"upload_genius_zip": zip})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "shop");
    assert_eq!(r.body["parties"], json!(["buyer", "seller"]));
    assert_eq!(r.body["sets_own_preferences"], json!([]));
    assert_eq!(
        r.body["issues"][1]["values"],
        json!(["0", "1", "2", "3", "4"])
    );
    let created = server
        .create(json!({
            "scenario": {"upload_genius_zip": zip}, "protocol": "saop", "rounds": 10,
            "roles": {"buyer": {"seat": "program"}, "seller": {"agent": "boulware"}}
        }))
        .await;
    let r = server
        .call(
            "POST",
            &format!("/api/sessions/{}/evaluate", created.id()),
            Some(created.seat("buyer")),
            Some(json!({"outcome": {"colour": "red", "n": "4"}})),
        )
        .await;
    // Genius rules: red is the best colour (2/2), n = 4 the best count (0.25 × 4).
    assert!(
        (r.body["utility"].as_f64().expect("utility") - 1.0).abs() < 1e-9,
        "{}",
        r.body
    );
}

#[tokio::test]
async fn upload_mistakes_are_named() {
    let server = start().await;
    let cases = [
        (json!({"upload_toml": TOML, "upload": {}}), "exactly one"),
        (
            json!({"upload_toml": "name = \"x\"\n[[issues]\n"}),
            "upload_toml",
        ),
        (json!({"upload_genius_zip": "***"}), "not base64"),
        (json!({"upload_genius_zip": "aGVsbG8="}), "not a zip file"),
        (
            json!({"upload_genius_zip": zipped(&[("a/buyer.xml", BUYER)])}),
            "no Genius domain file",
        ),
        (
            json!({"upload_genius_zip": zipped(&[("d.xml", DOMAIN), ("p.xml", "<utility_space><objective")])}),
            "not well-formed XML",
        ),
    ];
    for (scenario, what) in cases {
        let r = preview(&server, scenario.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{scenario}: {}", r.body);
        let error = r.body["error"].as_str().unwrap_or("");
        assert!(error.contains(what), "{scenario}: {error}");
    }
    // The preview is for the host: without the creator token, nothing is read.
    let r = server
        .call(
            "POST",
            "/api/scenarios/preview",
            Some("not-the-token"),
            Some(json!({"scenario": {"upload_toml": TOML}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}
