//! The baseline for `../connmgr`: a plain std program that binds the same 8 loopback listeners,
//! connects to each with std, and prints the same line.

use std::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listeners = (0..CONNECTIONS).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    let streams = listeners.iter().map(|l| TcpStream::connect(l.local_addr()?)).collect::<Result<Vec<_>, _>>()?;
    println!("{} connected", streams.len());
    Ok(())
}
