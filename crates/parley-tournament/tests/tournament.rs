//! Runs real tournaments into temporary folders and compares what they wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parley_engine::ProtocolKind;
use parley_tournament::store::{Manifest, CSV, LOG, SUMMARY_JSON, SUMMARY_MD};
use parley_tournament::{discover, merge, run, Options, Plan, Row, Settings, Shard};

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// A three-party scenario, so that multilateral assignments are exercised.
const THREE_PARTIES: &str = r#"
name = "Three flatmates"
[[issues]]
name = "rent split"
values = ["equal", "by room size", "by income"]
[[issues]]
name = "cleaning"
values = ["rota", "cleaner", "each their own"]
[[issues]]
name = "guests"
values = ["any time", "weekends", "ask first"]

[[parties]]
name = "ana"
reservation = 0.3
[parties.utility]
kind = "linear"
[[parties.utility.issues]]
issue = "rent split"
weight = 0.6
values = { "equal" = 2, "by room size" = 10, "by income" = 5 }
[[parties.utility.issues]]
issue = "cleaning"
weight = 0.2
values = { "rota" = 10, "cleaner" = 4, "each their own" = 0 }
[[parties.utility.issues]]
issue = "guests"
weight = 0.2
values = { "any time" = 10, "weekends" = 6, "ask first" = 1 }

[[parties]]
name = "ben"
reservation = 0.2
[parties.utility]
kind = "linear"
[[parties.utility.issues]]
issue = "rent split"
weight = 0.3
values = { "equal" = 10, "by room size" = 2, "by income" = 6 }
[[parties.utility.issues]]
issue = "cleaning"
weight = 0.5
values = { "rota" = 3, "cleaner" = 10, "each their own" = 5 }
[[parties.utility.issues]]
issue = "guests"
weight = 0.2
values = { "any time" = 4, "weekends" = 10, "ask first" = 6 }

[[parties]]
name = "cai"
reservation = 0.25
[parties.utility]
kind = "linear"
[[parties.utility.issues]]
issue = "rent split"
weight = 0.4
values = { "equal" = 6, "by room size" = 4, "by income" = 10 }
[[parties.utility.issues]]
issue = "cleaning"
weight = 0.3
values = { "rota" = 7, "cleaner" = 2, "each their own" = 10 }
[[parties.utility.issues]]
issue = "guests"
weight = 0.3
values = { "any time" = 1, "weekends" = 5, "ask first" = 10 }
"#;

/// The bundled scenarios plus the three-party fixture, in a folder of their own.
fn fixtures(dir: &Path) -> PathBuf {
    let root = dir.join("scenarios");
    std::fs::create_dir_all(root.join("multi")).expect("mkdir");
    for name in [
        "job-offer.toml",
        "oman-talks.toml",
        "supplier-contract.toml",
    ] {
        std::fs::copy(bundled().join(name), root.join(name)).expect("copy");
    }
    std::fs::write(root.join("multi/flatmates.toml"), THREE_PARTIES).expect("write");
    // Something that is not a scenario: skipped, with its reason, not fatal.
    std::fs::write(root.join("notes.json"), "{\"not\": \"a scenario\"}").expect("write");
    root
}

fn settings(protocol: ProtocolKind, mediator: Option<&str>) -> Settings {
    Settings {
        negotiators: ["boulware", "conceder", "frequency", "hardliner"]
            .map(String::from)
            .to_vec(),
        protocol,
        mediator: mediator.map(String::from),
        confide: mediator.is_some(),
        post_settlement: false,
        rounds: 60,
        time_limit: None,
        repetitions: 2,
        seed: 7,
        self_play: false,
        analysis_work: 200_000,
    }
}

fn plan(root: &Path, settings: Settings) -> Plan {
    let found = discover(&[root.to_path_buf()], None).expect("discover");
    Plan::new(settings, found).expect("plan")
}

fn run_into(plan: &Plan, out: &Path, shard: Shard, resume: bool) -> parley_tournament::Report {
    run(
        plan,
        &Options {
            out: out.to_path_buf(),
            resume,
            shard,
        },
        &|_, _| {},
    )
    .expect("tournament runs")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rows(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    parley_tournament::store::scan_log(&dir.join(LOG), |_, _, row| {
        rows.push(row);
        Ok(())
    })
    .expect("log reads");
    rows.sort_by_key(|r| r.session);
    rows
}

fn assert_same_outputs(a: &Path, b: &Path) {
    for file in [CSV, SUMMARY_JSON, SUMMARY_MD] {
        assert_eq!(read(&a.join(file)), read(&b.join(file)), "{file} differs");
    }
    assert_eq!(rows(a), rows(b));
}

#[test]
fn the_plan_swaps_roles_and_skips_what_it_cannot_play() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    let plan = plan(&root, settings(ProtocolKind::Saop, None));
    let labels: Vec<&str> = plan.entries.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "job-offer",
            "multi/flatmates",
            "oman-talks",
            "supplier-contract"
        ]
    );
    assert_eq!(plan.skipped.len(), 1, "{:?}", plan.skipped);
    assert!(plan.skipped[0].path.ends_with("notes.json"));
    // 4 competitors: 12 ordered pairs per bilateral scenario, 24 ordered triples for
    // the three-party one; two repetitions each.
    assert_eq!(plan.total(), (3 * 12 + 24) * 2);
    let mut plays: BTreeMap<(usize, usize, usize), u32> = BTreeMap::new();
    let mut seeds = std::collections::HashSet::new();
    for id in 0..plan.total() {
        let key = plan.session(id);
        assert_eq!(key.id, id);
        assert!(seeds.insert(key.seed), "session seeds are distinct");
        let mut distinct = key.assignment.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), key.assignment.len(), "no self-play");
        for (role, &c) in key.assignment.iter().enumerate() {
            *plays.entry((key.scenario, role, c)).or_default() += 1;
        }
    }
    // Every competitor plays every role of every scenario equally often.
    for s in 0..plan.entries.len() {
        let n = plan.entries[s].scenario.n_parties();
        let counts: Vec<u32> = (0..n)
            .flat_map(|r| (0..4).map(move |c| (s, r, c)))
            .map(|k| plays[&k])
            .collect();
        assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
    }
    // With self-play every tuple is played; with fewer competitors than parties and
    // no self-play, the three-party scenario is skipped.
    let mut two = settings(ProtocolKind::Saop, None);
    two.negotiators.truncate(2);
    let plan2 = Plan::new(
        two.clone(),
        discover(std::slice::from_ref(&root), None).expect("discover"),
    )
    .expect("plan");
    assert_eq!(plan2.entries.len(), 3);
    assert!(plan2.skipped.iter().any(|s| s.reason.contains("3 parties")));
    two.self_play = true;
    let plan3 = Plan::new(
        two,
        discover(std::slice::from_ref(&root), None).expect("discover"),
    )
    .expect("plan");
    assert_eq!(plan3.total(), (3 * 4 + 8) * 2);
    // Only bilateral scenarios.
    let bilateral = discover(&[root], Some(2)).expect("discover");
    assert_eq!(bilateral.entries.len(), 3);
}

#[test]
fn sharded_then_merged_equals_unsharded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    for (name, protocol, mediator) in [
        ("saop", ProtocolKind::Saop, None),
        (
            "staged",
            ProtocolKind::Staged {
                indirect: parley_engine::session::Indirect::Shuttle,
                threshold: 0.6,
                indirect_rounds: 30,
            },
            Some("shuttle"),
        ),
    ] {
        let plan = plan(&root, settings(protocol, mediator));
        let whole = tmp.path().join(format!("{name}-whole"));
        let report = run_into(&plan, &whole, Shard::ALL, false);
        assert_eq!(report.ran, plan.total());
        assert_eq!(report.summary.sessions, plan.total());
        let mut shards = Vec::new();
        for index in 0..3 {
            let dir = tmp.path().join(format!("{name}-shard{index}"));
            let shard = Shard { index, count: 3 };
            let report = run_into(&plan, &dir, shard, false);
            assert_eq!(report.ran, shard.size(plan.total()));
            assert!(rows(&dir).iter().all(|r| shard.holds(r.session)));
            shards.push(dir);
        }
        // Merged in any order of the folders.
        shards.reverse();
        let merged = tmp.path().join(format!("{name}-merged"));
        let summary = merge(&shards, &merged).expect("merge");
        assert_eq!(summary, report.summary);
        assert_same_outputs(&whole, &merged);
        let manifest = Manifest::read(&merged).expect("read").expect("manifest");
        assert_eq!(manifest.shard, Shard::ALL);
    }
}

#[test]
fn a_resumed_run_has_exactly_the_rows_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    let plan = plan(&root, settings(ProtocolKind::Saop, None));
    let whole = tmp.path().join("whole");
    run_into(&plan, &whole, Shard::ALL, false);

    // A run stopped after 37 rows, in the middle of writing the 38th.
    let log = read(&whole.join(LOG));
    let lines: Vec<&str> = log.lines().collect();
    let stopped = tmp.path().join("stopped");
    std::fs::create_dir_all(&stopped).expect("mkdir");
    std::fs::copy(
        whole.join("tournament.json"),
        stopped.join("tournament.json"),
    )
    .expect("copy");
    let mut partial = lines[..37].join("\n");
    partial.push('\n');
    partial.push_str(&lines[37][..lines[37].len() / 2]);
    std::fs::write(stopped.join(LOG), partial).expect("write");

    // Without --resume the folder is refused, and nothing in it changes.
    let refused = run(
        &plan,
        &Options {
            out: stopped.clone(),
            resume: false,
            shard: Shard::ALL,
        },
        &|_, _| {},
    )
    .expect_err("refused");
    assert!(refused.to_string().contains("--resume"), "{refused}");
    assert!(!stopped.join(CSV).exists());

    let report = run_into(&plan, &stopped, Shard::ALL, true);
    assert_eq!(report.already_done, 37);
    assert_eq!(report.ran, plan.total() - 37, "nothing runs twice");
    assert_same_outputs(&whole, &stopped);
    // Resuming a finished tournament runs nothing and changes nothing.
    let again = run_into(&plan, &stopped, Shard::ALL, true);
    assert_eq!(again.ran, 0);
    assert_same_outputs(&whole, &stopped);
}

#[test]
fn mismatched_or_broken_folders_are_refused_with_reasons() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    let plan_a = plan(&root, settings(ProtocolKind::Saop, None));
    let dir = tmp.path().join("a");
    run_into(&plan_a, &dir, Shard::ALL, false);
    let csv_before = read(&dir.join(CSV));

    // Other settings cannot resume this folder.
    let mut other = settings(ProtocolKind::Saop, None);
    other.rounds = 61;
    let plan_b = plan(&root, other);
    let err = run(
        &plan_b,
        &Options {
            out: dir.clone(),
            resume: true,
            shard: Shard::ALL,
        },
        &|_, _| {},
    )
    .expect_err("different tournament");
    assert!(err.to_string().contains("different tournament"), "{err}");
    // Nor another shard of the same tournament.
    let err = run(
        &plan_a,
        &Options {
            out: dir.clone(),
            resume: true,
            shard: Shard { index: 1, count: 2 },
        },
        &|_, _| {},
    )
    .expect_err("other shard");
    assert!(err.to_string().contains("shard"), "{err}");
    assert_eq!(read(&dir.join(CSV)), csv_before);

    // A damaged row in the middle of the log is reported by line.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::copy(dir.join("tournament.json"), broken.join("tournament.json")).expect("copy");
    let log = read(&dir.join(LOG));
    let mut lines: Vec<String> = log.lines().map(String::from).collect();
    lines[4] = lines[4].replace("\"session\"", "\"sesion\"");
    std::fs::write(broken.join(LOG), lines.join("\n") + "\n").expect("write");
    let err = run(
        &plan_a,
        &Options {
            out: broken.clone(),
            resume: true,
            shard: Shard::ALL,
        },
        &|_, _| {},
    )
    .expect_err("broken log");
    assert!(err.to_string().contains("results.jsonl:5"), "{err}");

    // Merges need every shard once, all complete, of one tournament.
    let s0 = tmp.path().join("s0");
    let s1 = tmp.path().join("s1");
    run_into(&plan_a, &s0, Shard { index: 0, count: 2 }, false);
    let err = merge(std::slice::from_ref(&s0), &tmp.path().join("m1")).expect_err("missing shard");
    assert!(err.to_string().contains("shard 1/2 is missing"), "{err}");
    let err = merge(&[s0.clone(), s0.clone()], &tmp.path().join("m2")).expect_err("twice");
    assert!(err.to_string().contains("twice"), "{err}");
    run_into(&plan_b, &s1, Shard { index: 1, count: 2 }, false);
    let err = merge(&[s0, s1], &tmp.path().join("m3")).expect_err("different");
    assert!(
        err.to_string()
            .contains("not shards of the same tournament"),
        "{err}"
    );
    let err = merge(std::slice::from_ref(&dir), &dir).expect_err("into a tournament");
    assert!(err.to_string().contains("already holds"), "{err}");
}

#[test]
fn rows_agree_with_the_scenarios() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    let plan = plan(&root, settings(ProtocolKind::Saop, None));
    let dir = tmp.path().join("out");
    let report = run_into(&plan, &dir, Shard::ALL, false);
    check_rows(&plan, &rows(&dir));
    // hardliner never concedes: it agrees least often, and two hardliners never meet.
    let hardliner = report
        .summary
        .ranking
        .iter()
        .find(|s| s.negotiator == "hardliner")
        .expect("ranked");
    let conceder = report
        .summary
        .ranking
        .iter()
        .find(|s| s.negotiator == "conceder")
        .expect("ranked");
    assert!(hardliner.agreement_rate < conceder.agreement_rate);
    let m = &report.summary.win_matrix;
    let (b, c) = (0, 1); // boulware, conceder
    assert!(
        m.wins[b][c] > m.wins[c][b],
        "boulware gains more than conceder against it"
    );
    assert_eq!(m.meetings[b][c], m.meetings[c][b]);
}

/// `confide: true` reaches the sessions: every party confides, and the mediator,
/// knowing every party's preferences, tables the Nash text, so that mediated deals sit
/// nearer the Nash point than without confidences.
#[test]
fn confiding_in_a_tournament_reaches_the_mediator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = fixtures(tmp.path());
    let mean_nash_distance = |confide: bool, out: &str| {
        let mut s = settings(ProtocolKind::Shuttle, Some("shuttle"));
        s.confide = confide;
        s.negotiators = ["conceder", "linear"].map(String::from).to_vec();
        let plan = plan(&root, s);
        let dir = tmp.path().join(out);
        run_into(&plan, &dir, Shard::ALL, false);
        let deals: Vec<f64> = rows(&dir)
            .iter()
            .filter(|r| r.agreement.is_some() && r.parties.len() == 2)
            .filter_map(|r| r.nash_distance)
            .collect();
        assert!(!deals.is_empty());
        deals.iter().sum::<f64>() / deals.len() as f64
    };
    let confided = mean_nash_distance(true, "all");
    let not = mean_nash_distance(false, "none");
    assert!(
        confided < not,
        "with confidences {confided:.4}, without {not:.4}"
    );
}

/// Every row is consistent with its scenario: utilities of the agreement, discounts,
/// advantages, welfare, distances.
fn check_rows(plan: &Plan, rows: &[Row]) {
    assert_eq!(rows.len() as u64, plan.total());
    let by_label: BTreeMap<&str, &parley_core::Scenario> = plan
        .entries
        .iter()
        .map(|e| (e.label.as_str(), &e.scenario))
        .collect();
    for (id, row) in rows.iter().enumerate() {
        assert_eq!(row.session, id as u64);
        let key = plan.session(row.session);
        let scenario = by_label[row.scenario.as_str()];
        assert_eq!(plan.entries[key.scenario].label, row.scenario);
        assert_eq!(row.seed, key.seed);
        let names: Vec<&str> = key
            .assignment
            .iter()
            .map(|&c| plan.settings.negotiators[c].as_str())
            .collect();
        assert_eq!(row.negotiators, names);
        // What walking away pays each party at the end: its reservation value,
        // discounted as a deal is (Genius semantics).
        let walk_away: Vec<f64> = scenario
            .parties()
            .iter()
            .map(|p| p.walk_away(row.time))
            .collect();
        match &row.agreement {
            Some(labels) => {
                let outcome: Vec<u32> = scenario
                    .space()
                    .issues()
                    .iter()
                    .zip(labels)
                    .map(|(issue, l)| issue.value_index(l).expect("a value of the issue"))
                    .collect();
                for (p, party) in scenario.parties().iter().enumerate() {
                    let raw = scenario.utilities()[p].value(&outcome);
                    let expected = raw * party.discount.powf(row.time);
                    assert!((row.utilities[p] - expected).abs() < 1e-12, "{row:?}");
                }
                assert_eq!(row.ended_by, "agreement");
            }
            None => {
                for (u, w) in row.utilities.iter().zip(&walk_away) {
                    assert!((u - w).abs() < 1e-12, "{row:?}");
                }
                assert_ne!(row.ended_by, "agreement");
            }
        }
        for (p, w) in walk_away.iter().enumerate() {
            assert!((row.advantages[p] - (row.utilities[p] - w)).abs() < 1e-12);
            // No built-in negotiator ends a session with less than walking away would
            // have paid it at that moment.
            assert!(
                row.advantages[p] > -1e-9,
                "{} got {} against {w} for walking away: {row:?}",
                row.negotiators[p],
                row.utilities[p]
            );
        }
        assert!((row.welfare - row.utilities.iter().sum::<f64>()).abs() < 1e-12);
        assert!(row.pareto_distance >= 0.0 && row.pareto_distance.is_finite());
        if let Some(d) = row.nash_distance {
            assert!(
                d >= row.pareto_distance - 1e-12,
                "the Nash point is on the frontier"
            );
        }
    }
}

/// Every built-in negotiator in direct talks, one repetition.
fn every_built_in(rounds: u32, seed: u64) -> Settings {
    Settings {
        negotiators: parley_engine::negotiators::NEGOTIATORS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        repetitions: 1,
        rounds,
        seed,
        ..settings(ProtocolKind::Saop, None)
    }
}

/// The tournament the README shows: every built-in negotiator on every bilateral ANAC
/// scenario of the shared corpus.
#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn built_in_negotiators_on_every_bilateral_anac_scenario() {
    let corpus = crate::corpus::corpus();
    let genius = corpus.join("genius");
    let found = discover(&[genius], Some(2)).expect("discover");
    assert!(
        found.entries.len() >= 100,
        "{} bilateral scenarios",
        found.entries.len()
    );
    let settings = every_built_in(50, 7);
    let n = parley_engine::negotiators::NEGOTIATORS.len() as u64;
    let plan = Plan::new(settings, found).expect("plan");
    assert_eq!(plan.total(), plan.entries.len() as u64 * n * (n - 1));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("anac");
    let report = run_into(&plan, &dir, Shard::ALL, false);
    let rows = rows(&dir);
    check_rows(&plan, &rows);
    let summary = &report.summary;
    assert_eq!(summary.scenarios, plan.entries.len() as u64);
    // The ranking reflects the strategies: random concedes everything and is last;
    // hardliner agrees least.
    assert_eq!(
        summary.ranking.last().map(|s| s.negotiator.as_str()),
        Some("random")
    );
    let least = summary
        .ranking
        .iter()
        .min_by(|a, b| {
            a.agreement_rate
                .partial_cmp(&b.agreement_rate)
                .expect("rates")
        })
        .expect("ranked");
    assert_eq!(least.negotiator, "hardliner");
    // `best` ranks first (docs/negotiators.md).
    assert_eq!(
        summary.ranking.first().map(|s| s.negotiator.as_str()),
        Some("best")
    );
    for s in &summary.ranking {
        assert_eq!(s.roles_played, plan.entries.len() as u64 * 2 * (n - 1));
        let [lo, hi] = s.ci95.expect("many sessions");
        let mean = s.mean_advantage.expect("played");
        assert!(lo < mean && mean < hi);
    }
}

/// Every built-in on the three-party scenarios of the corpus (ANAC 2015's and the
/// laptop domain), 100 rounds: `best` ranks first (docs/negotiators.md).
#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn best_ranks_first_on_the_three_party_anac_scenarios() {
    let corpus = crate::corpus::corpus();
    let found = discover(&[corpus.join("genius")], Some(3)).expect("discover");
    assert!(
        found.entries.len() >= 5,
        "{} scenarios",
        found.entries.len()
    );
    let settings = every_built_in(100, 0);
    let plan = Plan::new(settings, found).expect("plan");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("three");
    let report = run_into(&plan, &dir, Shard::ALL, false);
    check_rows(&plan, &rows(&dir));
    let ranking = &report.summary.ranking;
    assert_eq!(
        ranking.first().map(|s| s.negotiator.as_str()),
        Some("best"),
        "{:?}",
        ranking
            .iter()
            .map(|s| (&s.negotiator, s.mean_advantage))
            .collect::<Vec<_>>()
    );
}
