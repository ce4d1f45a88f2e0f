//! Per-project consent: may embeddings be computed and kept, data region,
//! business associate agreement.

use super::schema::{CONSENT_TREE, ConsentValue, decode, encode, project_prefix};
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// A project's consent settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// May embeddings of this project's stacktraces be computed and kept?
    pub ai_grouping: bool,
    /// Data region label (e.g. `us`, `eu`).
    pub region: String,
    /// Whether a business associate agreement covers the project.
    pub baa: bool,
}

impl Store {
    /// The project's own consent; `None` means the operator's defaults apply.
    pub fn consent(&self, project: u64) -> Result<Option<Consent>, StoreError> {
        match self.consent.get(project_prefix(project))? {
            None => Ok(None),
            Some(bytes) => {
                let ConsentValue::V1 {
                    ai_grouping,
                    region,
                    baa,
                } = decode(CONSENT_TREE, &bytes)?;
                Ok(Some(Consent {
                    ai_grouping,
                    region,
                    baa,
                }))
            }
        }
    }

    /// Records the project's consent. Durable before `Ok`. Withdrawing
    /// `ai_grouping` does not by itself delete embeddings: the caller also
    /// calls [`Store::delete_project_records`].
    pub fn set_consent(&self, project: u64, consent: &Consent) -> Result<(), StoreError> {
        if consent.region.len() > 64 || consent.region.chars().any(char::is_control) {
            return Err(StoreError::invalid(
                "region",
                "must be at most 64 bytes without control characters",
            ));
        }
        let value = ConsentValue::V1 {
            ai_grouping: consent.ai_grouping,
            region: consent.region.clone(),
            baa: consent.baa,
        };
        self.consent
            .insert(project_prefix(project), encode(&value)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Forgets the project's consent (defaults apply again). Durable before `Ok`.
    pub fn delete_consent(&self, project: u64) -> Result<(), StoreError> {
        self.consent.remove(project_prefix(project))?;
        self.db.flush()?;
        Ok(())
    }
}
