//! ACD benchmarks: a month of the busiest month (June 2024, 3,252 calls)
//! with 50 agents, and one routing decision with 10,000 calls waiting and
//! 1,000 agents. Figures in `docs/acd.md` ("Performance").
//!
//! `cargo bench -p guichet-acd --bench acd`

use std::hint::black_box;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use guichet_acd::sim::{MonthVolume, SimParams, simulate_month};
use guichet_acd::{Acd, AcdConfig, Action, AgentConfig, CallId, Membership, Priority, QueueConfig};

fn june_2024_with_50_agents(c: &mut Criterion) {
    let june = MonthVolume {
        month: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        calls_presented: 3252,
        calls_served: 2527,
    };
    let params = SimParams {
        agents: 50,
        ..SimParams::default()
    };
    let weekdays = |d: NaiveDate| d.weekday().num_days_from_monday() < 5;
    c.bench_function("simulate June 2024, 3252 calls, 50 agents", |b| {
        b.iter(|| black_box(simulate_month(black_box(&june), &params, &weekdays)))
    });
}

fn routing_with_10k_waiting_and_1k_agents(c: &mut Criterion) {
    const AGENTS: usize = 1_000;
    const WAITING: u64 = 10_000;
    let mut queue = QueueConfig::named("q");
    queue.wrap_up = 0;
    queue.announce_on_entry = false;
    queue.announce_every = None;
    let logins: Vec<String> = (0..AGENTS).map(|i| format!("agent{i:04}")).collect();
    let config = AcdConfig {
        queues: vec![queue],
        agents: logins
            .iter()
            .map(|l| AgentConfig {
                login: l.clone(),
                queues: vec![Membership {
                    queue: "q".into(),
                    level: 1,
                }],
            })
            .collect(),
        ..AcdConfig::default()
    };
    let mut acd = Acd::new(&config).unwrap();
    acd.set_event_stream(false);
    let mut now = Utc.with_ymd_and_hms(2024, 6, 3, 9, 0, 0).unwrap();
    for l in &logins {
        acd.login(now, l).unwrap();
    }
    // Every agent on a call, then 10,000 callers waiting.
    let mut holding = vec![CallId(0); AGENTS];
    let mut next = 0u64;
    for _ in 0..AGENTS {
        acd.enqueue(now, CallId(next), "q", Priority::Normal, "b")
            .unwrap();
        next += 1;
    }
    while let Some(a) = acd.poll_action() {
        if let Action::Ring { call, agent, .. } = a {
            let i = logins.iter().position(|l| *l == agent.0).unwrap();
            acd.agent_answered(now, &agent.0, call).unwrap();
            holding[i] = call;
        }
    }
    for i in 0..WAITING {
        let p = if i % 10 == 0 {
            Priority::Vip
        } else {
            Priority::Normal
        };
        acd.enqueue(now, CallId(next), "q", p, "b").unwrap();
        next += 1;
    }
    assert_eq!(acd.waiting_len("q"), Some(WAITING as usize));
    while acd.poll_event().is_some() {}

    let mut turn = 0usize;
    c.bench_function(
        "routing cycle: hang-up, route head of 10k to 1 of 1k agents, answer, new arrival",
        |b| {
            b.iter(|| {
                let a = turn % AGENTS;
                turn += 1;
                now += Duration::seconds(1);
                // The agent's call ends: the agent is free and the routing
                // decision offers the head of the queue to them.
                acd.call_ended(now, holding[a]).unwrap();
                let Some(Action::Ring { call, .. }) = acd.poll_action() else {
                    panic!("no routing decision");
                };
                acd.agent_answered(now, &logins[a], call).unwrap();
                holding[a] = call;
                acd.enqueue(now, CallId(next), "q", Priority::Normal, "b")
                    .unwrap();
                next += 1;
                while acd.poll_event().is_some() {}
                black_box(call)
            })
        },
    );
    assert_eq!(acd.waiting_len("q"), Some(WAITING as usize));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = june_2024_with_50_agents, routing_with_10k_waiting_and_1k_agents
}
criterion_main!(benches);
