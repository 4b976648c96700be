//! The API's one policy for store failures: status, French message and field.

use super::*;
use guichet_tickets::StoreError;
use guichet_tickets::ticket::TicketStatus;

async fn answer(e: StoreError) -> (StatusCode, serde_json::Value) {
    let response = api::store_error(&e);
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn each_store_error_gets_its_status_french_message_and_field() {
    assert_eq!(
        answer(StoreError::NotFound {
            what: "ticket",
            id: 12
        })
        .await,
        (
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "ticket n° 12 introuvable"})
        )
    );
    assert_eq!(
        answer(StoreError::NotFound {
            what: "pending callback",
            id: 3
        })
        .await
        .1["error"],
        "demande de rappel n° 3 introuvable"
    );
    assert_eq!(
        answer(StoreError::Invalid {
            field: "reason",
            reason: "le motif est obligatoire".into()
        })
        .await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({"error": "le motif est obligatoire", "field": "reason"})
        )
    );
    assert_eq!(
        answer(StoreError::IllegalTransition {
            from: TicketStatus::Closed,
            to: TicketStatus::InProgress
        })
        .await,
        (
            StatusCode::CONFLICT,
            serde_json::json!({
                "error": "le ticket ne peut pas passer de l'état « Clos » à l'état « En cours »",
                "field": "status"
            })
        )
    );
    // What the database itself fails on is a 500 that leaks no English detail.
    let (status, body) = answer(StoreError::Corrupt {
        column: "priority",
        value: "P9".into(),
    })
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("erreur de la base de données")
    );
    assert!(body.get("field").is_none() && !body.to_string().contains("P9"));
}

#[tokio::test]
async fn duplicates_and_unknown_references_are_told_apart_from_failures() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let store = backend.store.clone();
    store.create_support_group("Niveau 2").await.unwrap();
    let duplicate = store.create_support_group("Niveau 2").await.unwrap_err();
    let (status, body) = answer(duplicate).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let draft = guichet_tickets::ticket::NewTicket::simplified(
        guichet_tickets::ticket::Nature::Incident,
        "Badge refusé",
        "Mme Petit",
    );
    let id = store
        .create_ticket(&draft, "agt", Utc::now())
        .await
        .unwrap();
    let unknown_group = store
        .escalate_ticket(id, 4242, None, "panne", "agt", Utc::now())
        .await
        .unwrap_err();
    let (status, body) = answer(unknown_group).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
