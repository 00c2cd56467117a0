use super::*;

struct TmpDir(PathBuf);

impl TmpDir {
    fn new(tag: &str) -> TmpDir {
        let p = std::env::temp_dir().join(format!(
            "dl-spool-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&p);
        TmpDir(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn cfg(d: &TmpDir) -> SpoolConfig {
    let mut c = SpoolConfig::new(&d.0, 1 << 30);
    c.segment_bytes = 4096;
    c
}

fn rec(i: u64) -> Vec<u8> {
    format!("record number {i:06}").into_bytes()
}

fn fill(sp: &mut Spool, range: std::ops::Range<u64>) {
    for i in range {
        assert_eq!(sp.append(&rec(i)).unwrap(), i);
    }
    sp.commit().unwrap();
}

fn drain(sp: &mut Spool) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let got = sp.peek(from, 7).unwrap();
        if got.is_empty() {
            return seen;
        }
        for (seq, p) in got {
            assert_eq!(p, rec(seq), "payload of {seq}");
            seen.push(seq);
            from = seq + 1;
        }
    }
}

fn segments(d: &TmpDir) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_peek_ack_and_replay_after_restart() {
    let d = TmpDir::new("replay");
    let mut sp = Spool::open(cfg(&d)).unwrap();
    fill(&mut sp, 0..500);
    assert!(segments(&d).len() > 2, "segments roll at 4 KiB");
    assert_eq!(drain(&mut sp), (0..500).collect::<Vec<_>>());
    sp.ack(199).unwrap();
    sp.commit().unwrap();
    assert_eq!(sp.depth(), 300);
    let id = sp.id().to_string();
    drop(sp); // as after kill -9: nothing else is written on the way out
    let mut sp = Spool::open(cfg(&d)).unwrap();
    assert_eq!(sp.id(), id);
    assert_eq!(sp.ack_next(), 200);
    assert_eq!(drain(&mut sp), (200..500).collect::<Vec<_>>());
    assert_eq!(sp.counters().replayed, 300);
    assert_eq!(sp.counters().corrupt, 0);
    // New records continue the numbering after the replayed ones.
    fill(&mut sp, 500..510);
    assert_eq!(sp.peek(500, 100).unwrap().len(), 10);
    sp.ack(509).unwrap();
    sp.commit().unwrap();
    assert_eq!(sp.depth(), 0);
    assert!(segments(&d).len() <= 1, "acknowledged segments are deleted");
}

#[test]
fn uncommitted_ack_replays_rather_than_loses() {
    let d = TmpDir::new("ackcommit");
    let mut sp = Spool::open(cfg(&d)).unwrap();
    fill(&mut sp, 0..10);
    sp.ack(4).unwrap(); // not committed
    drop(sp);
    let mut sp = Spool::open(cfg(&d)).unwrap();
    assert_eq!(drain(&mut sp), (0..10).collect::<Vec<_>>());
}

#[test]
fn torn_tail_is_truncated_counted_and_appends_go_on() {
    let d = TmpDir::new("torn");
    let mut c = cfg(&d);
    c.segment_bytes = 1 << 20;
    let mut sp = Spool::open(c.clone()).unwrap();
    fill(&mut sp, 0..10);
    drop(sp);
    let seg = segments(&d).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    // Cut the last record in the middle of its payload, as a killed write would.
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let mut sp = Spool::open(c.clone()).unwrap();
    assert_eq!(sp.counters().corrupt, 1);
    assert_eq!(sp.next_seq(), 9);
    fill(&mut sp, 9..20);
    drop(sp);
    let mut sp = Spool::open(c).unwrap();
    assert_eq!(
        sp.counters().corrupt,
        0,
        "the tail was truncated on the last open"
    );
    assert_eq!(drain(&mut sp), (0..20).collect::<Vec<_>>());
}

#[test]
fn corrupt_record_in_the_middle_is_skipped_and_counted() {
    let d = TmpDir::new("middle");
    let mut c = cfg(&d);
    c.segment_bytes = 1 << 20;
    let mut sp = Spool::open(c.clone()).unwrap();
    fill(&mut sp, 0..10);
    drop(sp);
    let seg = segments(&d).pop().unwrap();
    let mut b = fs::read(&seg).unwrap();
    let one = segment::record_len(rec(0).len());
    b[5 * one + segment::HEADER_LEN + 3] ^= 0xff; // a payload byte of record 5
    fs::write(&seg, &b).unwrap();
    let mut sp = Spool::open(c).unwrap();
    assert_eq!(sp.counters().corrupt, 1);
    let want: Vec<u64> = (0..10).filter(|&i| i != 5).collect();
    assert_eq!(drain(&mut sp), want);
    // Acknowledging past the hole works as usual.
    sp.ack(9).unwrap();
    assert_eq!(sp.depth(), 0);
}

#[test]
fn garbage_files_never_crash() {
    let d = TmpDir::new("garbage");
    fs::create_dir_all(&d.0).unwrap();
    fs::write(
        d.0.join(seg_name(0)),
        b"ULSP\xff\xff\xff\xffjunkjunkjunkjunk",
    )
    .unwrap();
    fs::write(d.0.join(seg_name(7)), vec![0x55u8; 10000]).unwrap();
    fs::write(d.0.join("ack"), b"short").unwrap();
    let mut sp = Spool::open(cfg(&d)).unwrap();
    assert_eq!(sp.counters().corrupt, 2);
    assert!(drain(&mut sp).is_empty());
    let s = sp.append(b"after").unwrap();
    sp.commit().unwrap();
    assert_eq!(sp.peek(0, 10).unwrap(), vec![(s, b"after".to_vec())]);
}

#[test]
fn full_drops_the_oldest_and_counts() {
    let d = TmpDir::new("dropoldest");
    let mut c = cfg(&d);
    c.max_bytes = 16 << 10;
    let mut sp = Spool::open(c).unwrap();
    fill(&mut sp, 0..2000);
    let k = sp.counters();
    assert!(k.dropped > 0);
    assert!(k.bytes <= 16 << 10, "{k:?}");
    assert_eq!(k.dropped + k.depth, 2000, "{k:?}");
    let seen = drain(&mut sp);
    assert_eq!(seen.len() as u64, k.depth);
    assert_eq!(*seen.last().unwrap(), 1999, "the newest records are kept");
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "no hole");
}

#[test]
fn full_blocks_until_acknowledged() {
    let d = TmpDir::new("block");
    let mut c = cfg(&d);
    c.max_bytes = 16 << 10;
    c.when_full = WhenFull::Block;
    let mut sp = Spool::open(c).unwrap();
    let mut n = 0;
    loop {
        match sp.append(&rec(n)) {
            Ok(_) => n += 1,
            Err(SpoolError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    sp.commit().unwrap();
    assert_eq!(sp.counters().full, 1);
    assert_eq!(sp.counters().dropped, 0);
    assert!(matches!(sp.append(&rec(n)), Err(SpoolError::Full)));
    sp.ack(n / 2).unwrap();
    assert_eq!(sp.append(&rec(n)).unwrap(), n, "room again after the ack");
    sp.commit().unwrap();
    let seen = drain(&mut sp);
    assert_eq!(seen, (n / 2 + 1..=n).collect::<Vec<_>>());
}

#[test]
fn sync_always_and_large_records() {
    let d = TmpDir::new("always");
    let mut c = cfg(&d);
    c.sync = SyncMode::Always;
    let mut sp = Spool::open(c.clone()).unwrap();
    let big = vec![7u8; 600 << 10]; // larger than the first read window
    sp.append(&big).unwrap();
    sp.append(b"small").unwrap();
    drop(sp); // no commit: Always wrote both
    let mut sp = Spool::open(c).unwrap();
    let got = sp.peek(0, 10).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, big);
    assert_eq!(got[1].1, b"small");
    assert!(matches!(
        sp.append(&vec![0; segment::MAX_PAYLOAD + 1]),
        Err(SpoolError::TooLarge(_))
    ));
}

#[test]
fn numbering_survives_an_empty_spool() {
    let d = TmpDir::new("numbering");
    let mut sp = Spool::open(cfg(&d)).unwrap();
    fill(&mut sp, 0..300); // several 4 KiB segments
    sp.ack(299).unwrap();
    sp.commit().unwrap();
    assert!(
        segments(&d).is_empty(),
        "a wholly acknowledged spool keeps no segment"
    );
    assert_eq!(sp.counters().bytes, 0);
    drop(sp);
    let mut sp = Spool::open(cfg(&d)).unwrap();
    assert_eq!(sp.next_seq(), 300, "sequence numbers never repeat");
    assert_eq!(sp.append(b"x").unwrap(), 300);
    sp.commit().unwrap();
    assert_eq!(sp.peek(0, 5).unwrap(), vec![(300, b"x".to_vec())]);
}
