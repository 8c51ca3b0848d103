//! Frappe's own lists of what its setup wizard takes, read from the bench's copy of Frappe:
//! countries (`frappe/geo/country_info.json`: each with its currency, time zones and date,
//! time and number formats), languages (`frappe/geo/languages.json`: code and name) and
//! time zones (`frappe/utils/momentjs.py`, whose `get_all_timezones()` is the list the
//! wizard offers: the keys of its `"zones"` table). One read for the three files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use tokio::time::Instant;

use super::{file_error, Bench, BenchError};

pub const COUNTRY_INFO: &str = "apps/frappe/frappe/geo/country_info.json";
pub const LANGUAGES: &str = "apps/frappe/frappe/geo/languages.json";
pub const MOMENTJS: &str = "apps/frappe/frappe/utils/momentjs.py";

/// One country of `country_info.json`, as far as the setup wizard uses it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Country {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezones: Vec<String>,
    #[serde(default)]
    pub date_format: Option<String>,
    #[serde(default)]
    pub time_format: Option<String>,
    #[serde(default)]
    pub number_format: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Language {
    pub code: String,
    pub name: String,
}

/// What the wizard accepts on this bench.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupLists {
    pub countries: BTreeMap<String, Country>,
    pub languages: Vec<Language>,
    pub timezones: BTreeSet<String>,
}

impl SetupLists {
    /// Every currency a country of Frappe's list uses (Frappe makes its Currency records
    /// from the same file).
    pub fn currencies(&self) -> BTreeSet<&str> {
        self.countries
            .values()
            .filter_map(|c| c.currency.as_deref())
            .collect()
    }

    pub fn parse(country_info: &str, languages: &str, momentjs: &str) -> Result<Self, String> {
        let countries: BTreeMap<String, Country> = serde_json::from_str(country_info)
            .map_err(|e| format!("{COUNTRY_INFO} is not Frappe's country list: {e}"))?;
        let languages: Vec<Language> = serde_json::from_str(languages)
            .map_err(|e| format!("{LANGUAGES} is not Frappe's language list: {e}"))?;
        let timezones = momentjs_zones(momentjs);
        if countries.is_empty() || languages.is_empty() || timezones.is_empty() {
            return Err(format!(
                "Frappe's lists are empty here ({} countries, {} languages, {} time zones)",
                countries.len(),
                languages.len(),
                timezones.len()
            ));
        }
        Ok(SetupLists {
            countries,
            languages,
            timezones,
        })
    }
}

/// The keys of the `"zones"` table of momentjs.py's `data` dict, one per line as Frappe
/// formats the file: `\t"zones": {`, then `\t\t"Area/City": [...]`, up to `\t},`.
fn momentjs_zones(source: &str) -> BTreeSet<String> {
    let mut zones = BTreeSet::new();
    let mut inside = false;
    for line in source.lines() {
        let trimmed = line.trim();
        if !inside {
            inside = trimmed.starts_with("\"zones\"") && trimmed.ends_with('{');
            continue;
        }
        if trimmed.starts_with('}') && !line.starts_with("\t\t") && !line.starts_with("        ") {
            break;
        }
        let Some(rest) = trimmed.strip_prefix('"') else {
            continue;
        };
        if let Some((name, after)) = rest.split_once('"') {
            if after.starts_with(':') && !name.is_empty() {
                zones.insert(name.to_string());
            }
        }
    }
    zones
}

impl Bench {
    /// Frappe's lists from this bench's copy of Frappe.
    pub async fn setup_lists(&self, deadline: Instant) -> Result<SetupLists, BenchError> {
        let paths = [COUNTRY_INFO, LANGUAGES, MOMENTJS].map(String::from);
        let mut files = self.read_files(&paths, deadline).await?.into_iter();
        let mut next = |path: &str| {
            files
                .next()
                .flatten()
                .ok_or_else(|| file_error(format!("reading {path}"), "no such file".to_string()))
        };
        let (countries, languages, zones) =
            (next(COUNTRY_INFO)?, next(LANGUAGES)?, next(MOMENTJS)?);
        SetupLists::parse(&countries, &languages, &zones)
            .map_err(|e| file_error("reading Frappe's setup lists", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOMENTJS_START: &str = "# get data for moment.js\ndef update(tz, out):\n\tltz = data[\"links\"].get(tz, tz)\n\n\ndef get_all_timezones():\n\treturn sorted(list(data[\"zones\"]))\n\n\ndata = {\n\t\"zones\": {\n\t\t\"Africa/Abidjan\": [\"-0:16:8 - LMT 1912 -0:16:8\", \"0 - GMT\"],\n\t\t\"Africa/Addis_Ababa\": [\n\t\t\t\"2:34:48 - LMT 1870 2:34:48\",\n\t\t\t\"3 - EAT\",\n\t\t],\n\t\t\"Europe/Berlin\": [\"1 Germany CE%sT 1980\", \"1 EU CE%sT\"],\n\t},\n\t\"rules\": {\n\t\t\"Germany\": [\"1946 1946 3 14 7 2:0 0 1 S\"],\n\t},\n\t\"links\": {\n\t\t\"Asia/Calcutta\": \"Asia/Kolkata\",\n\t},\n}\n";

    #[test]
    fn zones_are_the_keys_of_the_zones_table_only() {
        let zones = momentjs_zones(MOMENTJS_START);
        assert_eq!(
            zones.into_iter().collect::<Vec<_>>(),
            ["Africa/Abidjan", "Africa/Addis_Ababa", "Europe/Berlin"]
        );
        // A blank line inside the table does not end it; only its own closing brace does.
        let spaced = MOMENTJS_START.replace("\t\t\"Europe/Berlin\"", "\n\t\t\"Europe/Berlin\"");
        assert_ne!(spaced, MOMENTJS_START);
        assert_eq!(momentjs_zones(&spaced).len(), 3);
    }

    #[test]
    fn lists_parse_and_refuse_what_is_not_frappe_s() {
        let countries = r##"{"Germany": {"code": "de", "currency": "EUR", "timezones": ["Europe/Berlin"], "date_format": "dd.mm.yyyy", "time_format": "HH:mm", "number_format": "#.###,##"}, "Bouvet Island": {"code": "bv"}}"##;
        let languages = r#"[{"code": "de", "name": "Deutsch"}, {"code": "en", "name": "English"}]"#;
        let lists = SetupLists::parse(countries, languages, MOMENTJS_START).unwrap();
        assert_eq!(lists.countries["Germany"].currency.as_deref(), Some("EUR"));
        assert!(lists.countries["Bouvet Island"].timezones.is_empty());
        assert_eq!(lists.currencies().into_iter().collect::<Vec<_>>(), ["EUR"]);
        assert!(SetupLists::parse("[]", languages, MOMENTJS_START).is_err());
        // Any one list empty is no Frappe's.
        assert!(SetupLists::parse("{}", languages, MOMENTJS_START).is_err());
        assert!(SetupLists::parse(countries, "[]", MOMENTJS_START).is_err());
        assert!(SetupLists::parse(countries, languages, "data = {}").is_err());
    }
}
