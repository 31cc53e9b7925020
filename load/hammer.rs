//! A small load generator for fault drills, where wrk's summary is not enough: every answer is
//! written as one CSV line (milliseconds since start, status or 0 for a transport error, the
//! error code of a JSON error body, latency in ms), so a script can see what happened when.
//!
//! `hammer URL TOKEN_FILE CONNECTIONS SECONDS OUT_CSV`

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, token_file, connections, seconds, out] = args.as_slice() else {
        eprintln!("usage: hammer URL TOKEN_FILE CONNECTIONS SECONDS OUT_CSV");
        std::process::exit(2);
    };
    let token = std::fs::read_to_string(token_file)?.trim().to_owned();
    let connections: usize = connections.parse().map_err(std::io::Error::other)?;
    let duration = Duration::from_secs(seconds.parse().map_err(std::io::Error::other)?);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(std::io::Error::other)?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            actix_web::rt::spawn(async move {
                let mut lines = Vec::new();
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    let (status, code) = match client.get(&url).bearer_auth(&token).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body: Value = response.json().await.unwrap_or(Value::Null);
                            let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
                            (status, code)
                        }
                        Err(e) => {
                            // Back off a little so a refused port does not spin the loop.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            (
                                0,
                                if e.is_connect() {
                                    "connect"
                                } else {
                                    "transport"
                                }
                                .into(),
                            )
                        }
                    };
                    lines.push(format!(
                        "{},{status},{code},{:.1}\n",
                        (sent - started).as_millis(),
                        sent.elapsed().as_secs_f64() * 1000.0
                    ));
                }
                lines
            })
        })
        .collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(file, "at_ms,status,code,latency_ms")?;
    let mut total = 0;
    for task in tasks {
        let lines = task.await.map_err(std::io::Error::other)?;
        total += lines.len();
        for line in lines {
            file.write_all(line.as_bytes())?;
        }
    }
    file.flush()?;
    eprintln!("hammer: {total} requests in {:?}", started.elapsed());
    Ok(())
}
