//! Prints a realistic disinformation-incident bundle.
//!
//! ```text
//! cargo run -p stix-model --example demo_bundle            # standard STIX 2.1
//! cargo run -p stix-model --example demo_bundle -- --opencti   # OpenCTI-flavoured
//! ```

use std::process::ExitCode;

use stix_model::extension::{AttributionSource, PartialDate};
use stix_model::incident::{ActorDescription, BuildOptions, BundleBuilder, IncidentDescription};
use stix_model::{Confidence, CountryCode, Timestamp};

fn run() -> Result<String, stix_model::Error> {
    let mut opts = BuildOptions::with_author("EU DisinfoLab Demo")?;
    opts.opencti = std::env::args().any(|a| a == "--opencti");
    let mut b = BundleBuilder::new(opts);

    let mut howitzers = IncidentDescription::new("Ukraine re-sold French howitzers for profit");
    howitzers.description = Some(
        "A fabricated video styled as a broadcaster's report claimed that Ukraine sold CAESAR \
         howitzers donated by France to Russia. It spread on Telegram and X before being \
         amplified by state media."
            .into(),
    );
    howitzers.created = Some(Timestamp::parse("2022-06-20T00:00:00.000Z")?);
    howitzers.first_seen = Some(PartialDate::parse("2022-06")?);
    howitzers.techniques = vec!["T0002".into(), "T0049.003".into(), "T0087".into()];
    howitzers.actors = vec![ActorDescription::new("Russia")];
    howitzers.target_countries = vec![CountryCode::parse("UA")?, CountryCode::parse("FR")?];
    howitzers.country_of_origin = Some(CountryCode::parse("RU")?);
    howitzers.region = Some("Europe".into());
    howitzers.sub_region = Some("Eastern Europe".into());
    howitzers.channels = vec!["Telegram".into(), "X".into()];
    howitzers.attribution_sources = vec![AttributionSource::Government];
    howitzers.attribution_confidence = Some(Confidence::new(70)?);
    howitzers.source_urls = vec!["https://euvsdisinfo.eu/report/ukraine-sells-howitzers".into()];
    howitzers.labels = vec!["disinformation".into()];
    b.add_incident(&howitzers)?;

    let mut doppelganger = IncidentDescription::new("Cloned news sites ahead of the elections");
    doppelganger.description = Some(
        "Look-alike copies of national newspapers published invented articles, promoted by \
         networks of inauthentic accounts and paid advertising."
            .into(),
    );
    doppelganger.created = Some(Timestamp::parse("2024-05-01T00:00:00.000Z")?);
    doppelganger.first_seen = Some(PartialDate::parse("2024")?);
    doppelganger.techniques = vec!["T0015.001".into(), "T0049.003".into()];
    // A trailing `*` marks an uncertain attribution, as in DISINFOX data.
    doppelganger.actors = vec![ActorDescription::new("Storm-1516*")];
    doppelganger.target_countries = vec![CountryCode::parse("DE")?, CountryCode::parse("FR")?];
    doppelganger.channels = vec!["Facebook".into()];
    doppelganger.attribution_sources =
        vec![AttributionSource::Researchers, AttributionSource::Platform];
    doppelganger.source_urls = vec!["https://example.org/research/cloned-sites".into()];
    b.add_incident(&doppelganger)?;

    b.build().to_string_pretty()
}

fn main() -> ExitCode {
    match run() {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
