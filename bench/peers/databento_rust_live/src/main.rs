//! The Rust `databento` crate's live client against the loopback test gateway: records/s
//! received (and decoded into record refs), the same measurement as the Python client's in
//! `bench/databento_live.py`. Usage: dbrs <port> <key> <records expected>
use std::time::Instant;

use databento::{
    dbn::{MboMsg, SType, Schema},
    live::Subscription,
    LiveClient,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args[1].parse()?;
    let n: u64 = args[3].parse()?;
    let mut client = LiveClient::builder()
        .addr(("127.0.0.1", port))
        .await?
        .key(args[2].clone())?
        .dataset("GLBX.MDP3")
        .build()
        .await?;
    client
        .subscribe(
            Subscription::builder()
                .symbols("ESH4")
                .schema(Schema::Mbo)
                .stype_in(SType::RawSymbol)
                .build(),
        )
        .await?;
    client.start().await?;
    let t0 = Instant::now();
    let mut got = 0u64;
    let mut sum = 0i64;
    while got < n {
        let Some(rec) = client.next_record().await? else {
            break;
        };
        if let Some(m) = rec.get::<MboMsg>() {
            sum = sum.wrapping_add(m.price);
            got += 1;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("{} {:.0} {}", got, got as f64 / dt, sum);
    Ok(())
}
