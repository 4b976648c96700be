//! Replays a volumes CSV through the ACD engine and prints the French
//! report, then the staffing nearest each published answer rate.
//!
//! `cargo run -p guichet-acd --example simulate -- [CSV] [AGENTS] [PATIENCE_SECS]`
//! (working days: Monday to Friday; the binary's `guichet simulate` uses the
//! calendar room's public holidays instead).

use chrono::{Datelike, Duration, NaiveDate};
use guichet_acd::sim::{
    SimParams, format_reports, nearest_staffing, parse_volumes, simulate_months,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "data/service-desk-volumes.csv".to_owned());
    let mut params = SimParams::default();
    if let Some(n) = args.next() {
        params.agents = n.parse()?;
    }
    if let Some(p) = args.next() {
        params.patience_mean = Duration::seconds(p.parse()?);
    }
    let weekdays = |d: NaiveDate| d.weekday().num_days_from_monday() < 5;
    let volumes = parse_volumes(&std::fs::read_to_string(&path)?)?;
    let started = std::time::Instant::now();
    let reports = simulate_months(&volumes, &params, weekdays);
    let elapsed = started.elapsed();
    println!(
        "{} agents, patience moyenne {} s, {} mois simulés en {:.1} ms",
        params.agents,
        params.patience_mean.num_seconds(),
        reports.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    print!("{}", format_reports(&reports));
    println!("\neffectif le plus proche du taux publié (2 à 6 agents) :");
    let mut gaps = Vec::new();
    let mut nearest = Vec::new();
    for v in &volumes {
        if let Some((n, r)) = nearest_staffing(v, &params, 2..=6, &weekdays) {
            gaps.push(r.gap_points().unwrap_or(0.0).abs());
            nearest.push((n, r));
        }
    }
    for (n, r) in &nearest {
        let gap = format!("{:+.1}", r.gap_points().unwrap_or(0.0)).replace('.', ",");
        println!(
            "{}  {} agents  simulé {}  publié {}  écart {gap} pt",
            r.month.format("%Y-%m"),
            n,
            r.simulated.answer_rate,
            r.published_answer_rate,
        );
    }
    let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let fr = |x: String| x.replace('.', ",");
    println!(
        "écart absolu moyen {} pt, maximal {} pt",
        fr(format!("{mean:.2}")),
        fr(format!("{max:.1}"))
    );
    Ok(())
}
