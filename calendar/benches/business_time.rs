//! Cost of the calendar questions the IVR and the SLA clocks ask most.

use std::hint::black_box;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use guichet_calendar::Calendar;

fn bench(c: &mut Criterion) {
    let cal = Calendar::culture_service_desk();
    // Friday 27 March 2026 17:00 UTC: spans a weekend and the DST change.
    let t = Utc.with_ymd_and_hms(2026, 3, 27, 17, 0, 0).unwrap();
    c.bench_function("is_open", |b| b.iter(|| cal.is_open(black_box(t))));
    c.bench_function("add_business 4h", |b| {
        b.iter(|| cal.add_business(black_box(t), TimeDelta::hours(4)))
    });
    c.bench_function("add_business 3 weeks (157.5 h)", |b| {
        b.iter(|| cal.add_business(black_box(t), TimeDelta::minutes(15 * 630)))
    });
    let later = t + TimeDelta::days(21);
    c.bench_function("business_duration 3 weeks", |b| {
        b.iter(|| cal.business_duration(black_box(t), black_box(later)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
