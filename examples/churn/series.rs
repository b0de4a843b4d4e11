//! The per-second series: what the progress line prints, what `--csv` writes, and what `--svg`
//! draws. The chart is hand-written SVG (no plotting dependency): axes with round-number ticks,
//! gridlines, the measured mean as a dashed line, the warm-up shaded, an optional reference line
//! (`--ceiling`, e.g. the raw loop's conn/s), and a title that says what was run.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One interval of the run (normally one second).
#[derive(Clone, Copy, Debug, Default)]
pub struct Row {
    /// Seconds since start at the end of the interval.
    pub t_s: f64,
    /// Length of the interval, seconds.
    pub dt_s: f64,
    /// "warm", "measure", "establish", "idle" or "run".
    pub phase: &'static str,
    /// Connections established per second in the interval.
    pub conn_per_s: f64,
    /// Dials started per second in the interval.
    pub dials_per_s: f64,
    /// Mean dials in flight, weighted by time.
    pub in_flight: f64,
    /// Established outbound connections held at the end of the interval.
    pub established: u64,
    /// Dial failures so far, by cause.
    pub errs: Errs,
    /// CPU used in the interval, percent of one core.
    pub cpu_pct: f64,
}

/// Dial failures by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Errs {
    /// ECONNREFUSED.
    pub refused: u64,
    /// EADDRNOTAVAIL: out of ephemeral ports.
    pub addr_not_avail: u64,
    /// Connect timeout.
    pub timed_out: u64,
    /// Through a proxy: the SOCKS5 handshake failed (the proxy closed, broke the protocol, or
    /// replied with a non-zero code). A failed connect to the proxy counts by its cause above.
    pub proxy: u64,
    /// Anything else.
    pub other: u64,
}

impl Errs {
    pub fn total(&self) -> u64 {
        self.refused + self.addr_not_avail + self.timed_out + self.proxy + self.other
    }
}

/// Writes the series as CSV.
pub fn write_csv(path: &Path, rows: &[Row]) -> io::Result<()> {
    let mut s = String::from(
        "t_s,dt_s,phase,conn_per_s,dials_per_s,in_flight,established,refused,addr_not_avail,timed_out,proxy,other,cpu_pct\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:.3},{:.3},{},{:.1},{:.1},{:.2},{},{},{},{},{},{},{:.1}",
            r.t_s,
            r.dt_s,
            r.phase,
            r.conn_per_s,
            r.dials_per_s,
            r.in_flight,
            r.established,
            r.errs.refused,
            r.errs.addr_not_avail,
            r.errs.timed_out,
            r.errs.proxy,
            r.errs.other,
            r.cpu_pct
        );
    }
    std::fs::write(path, s)
}

/// 12345.6 -> "12,346".
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A round tick step giving about `want` ticks up to `max`. (Plain arithmetic, no `powf` or
/// `log10`: they would pull libm into the process and its pages into the RSS being measured.)
fn nice_step(max: f64, want: f64) -> f64 {
    let raw = if max.is_finite() && max > 0.0 { max / want } else { 1.0 };
    let mut mag = 1.0;
    for _ in 0..64 {
        if mag * 10.0 <= raw {
            mag *= 10.0;
        } else if mag > raw {
            mag /= 10.0;
        } else {
            break;
        }
    }
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// A horizontal reference line.
pub struct HLine {
    pub y: f64,
    pub label: String,
    pub color: &'static str,
}

/// What to draw.
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub y_label: String,
    /// (x seconds, y) points, in order.
    pub points: Vec<(f64, f64)>,
    /// Shaded x range with a label (the warm-up).
    pub shade: Option<(f64, f64, &'static str)>,
    pub hlines: Vec<HLine>,
    pub x_max: f64,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders the chart as a standalone SVG document.
pub fn svg(c: &Chart) -> String {
    let (w, h) = (900.0, 480.0);
    let (ml, mr, mt, mb) = (90.0, 40.0, 78.0, 62.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let y_data = c.points.iter().map(|p| p.1).chain(c.hlines.iter().map(|l| l.y)).fold(0.0, f64::max);
    let y_step = nice_step(if y_data > 0.0 { y_data * 1.1 } else { 1.0 }, 5.0);
    let y_max = ((if y_data > 0.0 { y_data * 1.08 } else { 1.0 }) / y_step).ceil() * y_step;
    let x_max = if c.x_max > 0.0 { c.x_max } else { 1.0 };
    let x_step = nice_step(x_max, 10.0);
    let x = |v: f64| ml + v / x_max * pw;
    let y = |v: f64| mt + ph - v / y_max * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{ml}" y="30" font-size="19" font-weight="bold" fill="#222">{}</text>
<text x="{ml}" y="52" font-size="13" fill="#555">{}</text>
"##,
        esc(&c.title),
        esc(&c.subtitle)
    );
    if let Some((a, b, label)) = c.shade {
        let (xa, xb) = (x(a.max(0.0)), x(b.min(x_max)));
        let _ = writeln!(
            s,
            r##"<rect x="{xa:.1}" y="{mt}" width="{:.1}" height="{ph}" fill="#eeeeee"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#888" text-anchor="middle">{}</text>"##,
            (xb - xa).max(0.0),
            (xa + xb) / 2.0,
            mt + 16.0,
            esc(label)
        );
    }
    // Gridlines and tick labels.
    let mut v = 0.0;
    while v <= y_max + y_step * 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#444" text-anchor="end">{}</text>"##,
            ml + pw,
            ml - 8.0,
            yy + 4.0,
            thousands(v)
        );
        v += y_step;
    }
    let mut v = 0.0;
    while v <= x_max + x_step * 1e-9 {
        let xx = x(v);
        let label = if x_step < 1.0 { format!("{v:.1}") } else { format!("{v:.0}") };
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{mt}" x2="{xx:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.1}" font-size="12" fill="#444" text-anchor="middle">{label}</text>"##,
            mt + ph,
            mt + ph + 18.0
        );
        v += x_step;
    }
    // Axes and their titles.
    let _ = writeln!(
        s,
        r##"<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{:.1}" stroke="#333"/><line x1="{ml}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>
<text x="{:.1}" y="{:.1}" font-size="13" fill="#333" text-anchor="middle">time since start (s)</text>
<text transform="translate(22 {:.1}) rotate(-90)" font-size="13" fill="#333" text-anchor="middle">{}</text>"##,
        mt + ph,
        mt + ph,
        ml + pw,
        mt + ph,
        ml + pw / 2.0,
        h - 18.0,
        mt + ph / 2.0,
        esc(&c.y_label)
    );
    // The series: filled area under a line, with a dot per interval.
    if !c.points.is_empty() {
        let mut line = String::new();
        for &(px, py) in &c.points {
            let _ = write!(line, "{:.1},{:.1} ", x(px), y(py));
        }
        let (first, last) = (c.points[0].0, c.points[c.points.len() - 1].0);
        let _ = writeln!(
            s,
            r##"<polygon points="{:.1},{:.1} {line}{:.1},{:.1}" fill="#1f77b4" fill-opacity="0.12"/>
<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2.2" stroke-linejoin="round"/>"##,
            x(first),
            y(0.0),
            x(last),
            y(0.0)
        );
        for &(px, py) in &c.points {
            let _ = writeln!(s, r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f77b4"/>"##, x(px), y(py));
        }
    }
    for (i, l) in c.hlines.iter().enumerate() {
        let yy = y(l.y);
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{}" stroke-width="1.6" stroke-dasharray="7 4"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{}" text-anchor="end">{}</text>"##,
            ml + pw,
            l.color,
            ml + pw - 4.0,
            if i % 2 == 0 { yy - 6.0 } else { yy + 15.0 },
            l.color,
            esc(&l.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(74_300.0), "74,300");
        assert_eq!(thousands(-1_234_567.0), "-1,234,567");
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(80_000.0, 5.0), 20_000.0);
        assert_eq!(nice_step(11.0, 10.0), 2.0);
    }
}
