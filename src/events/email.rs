//! E-mail written for people: a subject that names the record and the
//! change, the SHARED note's text when the change came with one, and a link
//! to the record when `PUBLIC_APP_URL` is set. Never a dump of the payload.

use entity::{Subject, notification};

/// The path of a record in the frontend, under `PUBLIC_APP_URL`:
/// `/referrals/<global id>`, `/partners/<global id>`, … (README, "E-mail").
fn path_of(subject: Subject) -> &'static str {
    match subject {
        Subject::Referral => "referrals",
        Subject::Partner => "partners",
        Subject::Invoice => "invoices",
        Subject::Organization => "organizations",
        Subject::Task => "tasks",
        Subject::ImportBatch => "imports",
        Subject::Assignment => "assigned-referrals",
    }
}

/// A link to the event's record, if the frontend's address is known (a `/`
/// in the base64 global id is percent-encoded: the id is one path segment).
pub fn link(n: &notification::Model, app_url: Option<&str>) -> Option<String> {
    let (subject, id) = (n.subject?, n.subject_id?);
    let mut url = reqwest::Url::parse(app_url?).ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().push(path_of(subject)).push(&crate::ids::of_subject(subject, id));
    Some(url.to_string())
}

/// The subject line and plain-text body of the e-mail for an event.
pub fn compose(n: &notification::Model, app_url: Option<&str>) -> (String, String) {
    let subject: String = format!("[Referral Hub] {}", n.message).chars().take(200).collect();
    let mut body = format!("{}\n", n.message);
    if let Some(note) = n.payload.get("note").and_then(|v| v.as_str()) {
        body.push_str("\nNote:\n");
        for line in note.lines() {
            body.push_str(&format!("> {line}\n"));
        }
    }
    if let Some(url) = link(n, app_url) {
        body.push_str(&format!("\nOpen it: {url}\n"));
    }
    body.push_str(
        "\n--\nReferral Hub. You receive this because your organization takes part in this referral program.\n",
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: serde_json::Value) -> notification::Model {
        notification::Model {
            id: 1,
            recipient_org_id: Some(2),
            recipient_user_id: None,
            recipient_email: None,
            kind: "REFERRAL_STATUS_CHANGED".into(),
            subject: Some(Subject::Referral),
            subject_id: Some(7),
            message: "Referral R-7KQ2M9 is now REQUIRES_INFO".into(),
            payload,
            job_run_id: None,
            created_at: chrono::Utc::now(),
            vendor_org_id: Some(3),
            partner_id: None,
            partner_org_id: None,
            partner_visible: true,
            fanned_out_at: None,
            position: Some(1),
        }
    }

    #[test]
    fn names_the_change_quotes_the_note_and_links_the_record() {
        let n =
            event(serde_json::json!({ "referenceId": "R-7KQ2M9", "note": "Please add the budget.\nAnd the date." }));
        let (subject, body) = compose(&n, Some("https://app.example.com/"));
        assert_eq!(subject, "[Referral Hub] Referral R-7KQ2M9 is now REQUIRES_INFO");
        assert!(body.contains("> Please add the budget.\n> And the date.\n"), "{body}");
        assert!(body.contains("Open it: https://app.example.com/referrals/UmVmZXJyYWw6Nw==\n"), "{body}");
        // Under a base path, with or without its trailing slash.
        for base in ["https://app.example.com/hub", "https://app.example.com/hub/"] {
            assert_eq!(link(&n, Some(base)).unwrap(), "https://app.example.com/hub/referrals/UmVmZXJyYWw6Nw==");
        }
        assert!(!body.contains('{'), "no JSON: {body}");
    }

    #[test]
    fn without_an_app_address_there_is_no_link() {
        let (_, body) = compose(&event(serde_json::json!({})), None);
        assert!(!body.contains("Open it"), "{body}");
    }
}
