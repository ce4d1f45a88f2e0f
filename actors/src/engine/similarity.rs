//! The similarity API of SEER_API.md on the engine: Sentry computes the
//! hashes and asks for neighbours of a stacktrace, or backfills records.

use super::error::EngineError;
use super::node::Node;
use super::pipeline::{Engine, Epoch, now_seconds};
use super::project::WithProject;
use stackherd::similarity::{
    GroupingRecordsRequest, GroupingRecordsResponse, RequestLimits, SimilarIssue,
    SimilarIssuesRequest, SimilarIssuesResponse,
};
use stackherd::store::{Consent, InsertOutcome, Neighbour, NewRecord};
use std::sync::Arc;

/// Search radius when `read_only` (SEER_API.md).
const READ_ONLY_RADIUS: f32 = 0.1;

impl Node {
    /// `POST /v0/issues/similar-issues`: neighbours of the request's
    /// stacktrace in its project, with the insert, `k=0`, `read_only`,
    /// reranking, `training_mode` and fallback semantics of SEER_API.md. A
    /// project without AI consent gets no embedding computed and no match.
    pub async fn similar(
        &self,
        request: SimilarIssuesRequest,
    ) -> Result<SimilarIssuesResponse, EngineError> {
        let _guard = self.enter()?;
        request
            .validate(&RequestLimits::default())
            .map_err(|e| EngineError::BadInput(e.to_string()))?;
        let version = request
            .model_or(&self.settings().grouping.default_model)
            .to_owned();
        self.engine().threshold(&version)?;
        let actor = self.route(request.project_id).await?;
        let work = move |engine: Arc<Engine>, consent: Consent, epoch: Epoch| async move {
            engine.similar(request, &version, &consent, &epoch).await
        };
        actor.send(WithProject(work)).await?
    }

    /// `POST /v0/issues/similar-issues/grouping-record`: stores rows in
    /// order, each unless a record (including one stored earlier in this
    /// batch) lies within the threshold; those are reported instead.
    pub async fn grouping_records(
        &self,
        request: GroupingRecordsRequest,
    ) -> Result<GroupingRecordsResponse, EngineError> {
        let _guard = self.enter()?;
        if !request.lists_match() {
            return Ok(GroupingRecordsResponse::mismatched_lists());
        }
        request
            .validate(&RequestLimits::default())
            .map_err(|e| EngineError::BadInput(e.to_string()))?;
        let version = request
            .model_or(&self.settings().grouping.default_model)
            .to_owned();
        self.engine().threshold(&version)?;
        let texts: Vec<&str> = request.stacktrace_list.iter().map(String::as_str).collect();
        let embeddings = futures_util::future::join_all(
            texts.iter().map(|text| self.engine().embed(&version, text)),
        )
        .await;
        let mut vectors = Vec::with_capacity(embeddings.len());
        for embedding in embeddings {
            vectors.push(embedding?);
        }
        let mut response = GroupingRecordsResponse {
            success: true,
            groups_with_neighbor: Default::default(),
        };
        // Consecutive rows of one project go to its actor as one batch, so
        // the order (and the in-batch neighbours) of the request is kept.
        let mut start = 0;
        while start < request.data.len() {
            let project = request.data[start].project_id;
            let end = request.data[start..]
                .iter()
                .position(|row| row.project_id != project)
                .map_or(request.data.len(), |offset| start + offset);
            let rows: Vec<BatchRow> = (start..end)
                .map(|i| BatchRow {
                    group_id: request.data[i].group_id,
                    hash: request.data[i].hash.clone(),
                    error_type: request.data[i].exception_type.clone(),
                    vector: std::mem::take(&mut vectors[i]),
                })
                .collect();
            let (version, threshold) = (version.clone(), request.threshold);
            let work = move |engine: Arc<Engine>, consent: Consent, epoch: Epoch| async move {
                engine
                    .backfill(project, rows, &version, threshold, &consent, &epoch)
                    .await
            };
            let neighbours = self.route(project).await?.send(WithProject(work)).await??;
            response.groups_with_neighbor.extend(neighbours);
            start = end;
        }
        Ok(response)
    }
}

struct BatchRow {
    group_id: u64,
    hash: String,
    error_type: Option<String>,
    vector: Vec<f32>,
}

impl Engine {
    async fn similar(
        &self,
        request: SimilarIssuesRequest,
        version: &str,
        consent: &Consent,
        epoch: &Epoch,
    ) -> Result<SimilarIssuesResponse, EngineError> {
        let empty = SimilarIssuesResponse {
            responses: Vec::new(),
            model_used: None,
        };
        if !consent.ai_grouping {
            self.counters.similarity_request(false);
            return Ok(empty);
        }
        let vector = self.embed(version, &request.stacktrace).await?;
        if request.training_mode || request.k == 0 {
            let inserted = self.insert(&request, version, vector, None, epoch).await?;
            self.counters.similarity_request(inserted);
            return Ok(empty);
        }
        let mut model_used = version.to_owned();
        let mut neighbours = self.search(&request, version, vector.clone()).await?;
        let stable = self.settings.grouping.stable_model.clone();
        if neighbours.is_empty() && stable != version && !request.skip_fallback {
            let stable_vector = self.embed(&stable, &request.stacktrace).await?;
            neighbours = self.search(&request, &stable, stable_vector).await?;
            model_used = stable;
        }
        neighbours.truncate(request.k);
        let matched = neighbours
            .iter()
            .find(|n| n.distance <= request.threshold)
            .cloned();
        let mut inserted = false;
        if !request.read_only {
            match &matched {
                Some(hit) => {
                    self.touch(request.project_id, &model_used, hit.hash.clone(), epoch)
                        .await?;
                }
                None => {
                    inserted = self
                        .insert(&request, version, vector, Some(request.threshold), epoch)
                        .await?;
                }
            }
        }
        self.counters.similarity_request(inserted);
        Ok(SimilarIssuesResponse {
            responses: neighbours
                .into_iter()
                .map(|n| SimilarIssue {
                    should_group: n.distance <= request.threshold,
                    parent_hash: n.hash,
                    stacktrace_distance: n.distance,
                })
                .collect(),
            model_used: Some(model_used),
        })
    }

    /// The request's neighbours in `version`: within the radius, at most
    /// the candidate count, exact distances ascending, never its own hash.
    async fn search(
        &self,
        request: &SimilarIssuesRequest,
        version: &str,
        vector: Vec<f32>,
    ) -> Result<Vec<Neighbour>, EngineError> {
        let mut radius = if request.read_only {
            READ_ONLY_RADIUS
        } else {
            request.threshold
        };
        let mut candidates = request.k;
        if request.use_reranking {
            // The index already returns exact cosine distances, so
            // reranking is the wider candidate set, then the cut below.
            radius = radius.max(request.hnsw_distance);
            candidates = candidates.max(request.hnsw_candidates);
        }
        let (project, version, hash) =
            (request.project_id, version.to_owned(), request.hash.clone());
        self.shards
            .run(project, move |store| {
                Ok(store.search(&version, project, &vector, candidates, radius, Some(&hash))?)
            })
            .await
    }

    /// Stores the request's embedding: gated by `threshold`, or forced.
    async fn insert(
        &self,
        request: &SimilarIssuesRequest,
        version: &str,
        vector: Vec<f32>,
        threshold: Option<f32>,
        epoch: &Epoch,
    ) -> Result<bool, EngineError> {
        let (project, version, hash, error_type, epoch) = (
            request.project_id,
            version.to_owned(),
            request.hash.clone(),
            request.exception_type.clone(),
            epoch.clone(),
        );
        self.shards
            .run(project, move |store| {
                if !epoch.is_current() {
                    return Ok(false);
                }
                let record = NewRecord {
                    hash: &hash,
                    error_type: error_type.as_deref(),
                    embedding: &vector,
                };
                let now = now_seconds();
                let outcome = match threshold {
                    Some(threshold) => {
                        store.insert_if_no_neighbour(&version, project, record, threshold, now)?
                    }
                    None => store.insert_forced(&version, project, record, now)?,
                };
                Ok(outcome == InsertOutcome::Inserted)
            })
            .await
    }

    async fn touch(
        &self,
        project: u64,
        version: &str,
        hash: String,
        epoch: &Epoch,
    ) -> Result<(), EngineError> {
        let (version, epoch) = (version.to_owned(), epoch.clone());
        self.shards
            .run(project, move |store| {
                if epoch.is_current() {
                    store.touch(&version, project, &hash, now_seconds())?;
                }
                Ok(())
            })
            .await
    }

    async fn backfill(
        &self,
        project: u64,
        rows: Vec<BatchRow>,
        version: &str,
        threshold: f32,
        consent: &Consent,
        epoch: &Epoch,
    ) -> Result<Vec<(String, SimilarIssue)>, EngineError> {
        if !consent.ai_grouping {
            return Ok(Vec::new());
        }
        let (version, epoch) = (version.to_owned(), epoch.clone());
        self.shards
            .run_to_completion(project, move |store| {
                if !epoch.is_current() {
                    return Ok(Vec::new());
                }
                let records: Vec<NewRecord<'_>> = rows
                    .iter()
                    .map(|row| NewRecord {
                        hash: &row.hash,
                        error_type: row.error_type.as_deref(),
                        embedding: &row.vector,
                    })
                    .collect();
                let outcomes = store.insert_batch(
                    &version,
                    project,
                    &records,
                    Some(threshold),
                    now_seconds(),
                )?;
                Ok(rows
                    .iter()
                    .zip(outcomes)
                    .filter_map(|(row, outcome)| match outcome {
                        InsertOutcome::NeighbourExists(hit) => Some((
                            row.group_id.to_string(),
                            SimilarIssue {
                                parent_hash: hit.hash,
                                stacktrace_distance: hit.distance,
                                should_group: true,
                            },
                        )),
                        InsertOutcome::Inserted | InsertOutcome::HashExists => None,
                    })
                    .collect())
            })
            .await
    }
}
