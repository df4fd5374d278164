//! The demo's whole flow on the local emulator, with a smaller burst (run
//! with `scripts/local-aws.sh run -- cargo test -p demo`, or `make test`).

use demo::{DemoOptions, Outcome, ProgressOutput};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_burst_ends_as_planned_with_every_invariant_holding() {
    // Sent mail is global in the emulator: a sender of this test's own
    // tells its mail apart.
    let domain = uuid::Uuid::new_v4().simple().to_string();
    let dashboard = std::env::temp_dir().join(format!("dashboard-{}.html", &domain[..12]));
    let options = DemoOptions {
        orders: 12,
        customers: 4,
        sender: format!("orders@shop-{}.example.com", &domain[..12]),
        progress: ProgressOutput::Off,
        dashboard: Some(dashboard.clone()),
        ..DemoOptions::default()
    };
    let report = demo::run(options).await.unwrap();
    let text = report.to_string();
    assert!(report.is_ok(), "{:#?}\n{text}", report.violations());

    // Of twelve orders: one each declined, lost in shipping and cancelled;
    // of the two wanting the scarce product, one gets it.
    assert_eq!(report.count(Outcome::Completed), 8, "{text}");
    assert_eq!(report.count(Outcome::Failed), 3, "{text}");
    assert_eq!(report.count(Outcome::Cancelled), 1, "{text}");
    assert_eq!(report.outcome_of("ord-1008"), Some(Outcome::Cancelled));
    assert_eq!(report.outcome_of("ord-1005"), Some(Outcome::Failed));
    assert_eq!(report.outcome_of("ord-1010"), Some(Outcome::Failed));
    let reasons = report.failure_reasons();
    let kinds: Vec<&str> = reasons.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        ["OUT_OF_STOCK", "PAYMENT_DECLINED", "SHIPPING_FAILED"]
    );

    // Stock moved by the completed orders only (also an invariant above;
    // here checked against the numbers of the plan).
    let sold: i64 = report.stock.iter().map(|l| l.before - l.after).sum();
    let plan = demo::Plan::new(12, 4).unwrap();
    let completed_units: i64 = plan
        .orders
        .iter()
        .filter(|o| report.outcome_of(o.id().as_str()) == Some(Outcome::Completed))
        .flat_map(|o| o.units().map(|(_, n)| n).collect::<Vec<_>>())
        .sum();
    assert_eq!(sold, completed_units);

    // 4 welcomes, 12 confirmations (the duplicated order's included once),
    // and one outcome email per order.
    let emails: usize = report.emails.values().sum();
    assert_eq!(emails, 4 + 12 + 12, "{text}");
    assert_eq!(report.dead_letters.values().sum::<usize>(), 2, "{text}");
    assert_eq!(report.runner.filtered_not_json, 3, "{text}");
    assert!(report.runner.idle);

    // The report never shows an address in clear.
    for customer in &plan.customers {
        assert!(!text.contains(customer.email), "{text}");
    }
    assert!(text.contains("Invariants: 7 of 7 hold"), "{text}");

    // The template's dashboard, drawn from the run's data points.
    assert_eq!(report.dashboard, Some(dashboard.display().to_string()));
    let page = std::fs::read_to_string(&dashboard).unwrap();
    let _ = std::fs::remove_file(&dashboard);
    assert!(
        page.matches("<section class=\"panel\"").count() >= 8,
        "{page}"
    );
    assert!(
        page.contains("COMPLETED<span class=\"sum\">total 8</span>"),
        "{page}"
    );
    assert!(page.contains("RecordsReceived<span class=\"sum\">total "));
    assert!(
        text.ends_with(&format!("dashboard: {}\n", dashboard.display())),
        "{text}"
    );
}
