#[cfg(test)]
#[macro_use]
mod test_harness;

mod rules;
mod suggestion;
mod utils;
mod visitor;
mod visitors;

pub use visitor::VisitorContext;
use visitor::{VisitorNil, visit};

use crate::{
    CacheControl, ServerError, Variables, parser::types::ExecutableDocument, registry::Registry,
};

/// Validation results.
#[derive(Debug, Copy, Clone)]
pub struct ValidationResult {
    /// Cache control
    pub cache_control: CacheControl,

    /// Query complexity
    pub complexity: usize,

    /// Query depth
    pub depth: usize,
}

/// Validation mode
#[derive(Copy, Clone, Debug)]
pub enum ValidationMode {
    /// Execute all validation rules.
    Strict,

    /// The executor itself also has error handling, so it can improve
    /// performance, but it can lose some error messages.
    Fast,
}

/// referral-hub patch: documents, by their text and the operation run, that
/// passed the rules which read only the document and the schema. Such a
/// document is checked again on each request only by what also reads the
/// request's variables (`check_rules` with `document_checked`): the rules
/// are two thirds of the cost of validating, about 6 % of a request for a
/// page of referrals. A document that declares no variables has nothing
/// left that a request can change, so its whole result is kept and reused
/// (`Checked::Whole`). Small documents only, and the set starts again when
/// full, so it holds a few MiB at most.
#[derive(Default)]
pub(crate) struct CheckedDocuments(std::sync::Mutex<Documents>);

/// Each document's text, with the operations run from it and, for each,
/// its whole result when the document declares no variables.
type Documents = std::collections::HashMap<String, Vec<(Option<String>, Option<ValidationResult>)>>;

/// referral-hub patch: what a request's document needs checked, by what
/// `CheckedDocuments` remembers of it.
#[derive(Clone, Copy)]
pub(crate) enum Checked {
    /// Not seen, or refused before: every rule runs.
    No,
    /// Passed the rules that read only the document: those that read the
    /// variables run.
    Rules,
    /// Passed, and declares no variables: every rule and measure would
    /// give this again.
    Whole(ValidationResult),
}

impl CheckedDocuments {
    const CAPACITY: usize = 256;
    const LONGEST: usize = 4096;

    fn documents(&self) -> std::sync::MutexGuard<'_, Documents> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is remembered of `query` run as `operation`.
    pub(crate) fn lookup(&self, query: &str, operation: Option<&str>) -> Checked {
        if query.len() > Self::LONGEST {
            return Checked::No;
        }
        let documents = self.documents();
        let Some(ops) = documents.get(query) else {
            return Checked::No;
        };
        match ops.iter().find(|(op, _)| op.as_deref() == operation) {
            None => Checked::No,
            Some((_, None)) => Checked::Rules,
            Some((_, Some(result))) => Checked::Whole(*result),
        }
    }

    /// Notes that `query`, run as `operation`, passed; with its result
    /// when the document declares no variables (`whole`).
    pub(crate) fn insert(
        &self,
        query: &str,
        operation: Option<&str>,
        whole: Option<ValidationResult>,
    ) {
        if query.is_empty() || query.len() > Self::LONGEST {
            return;
        }
        let mut documents = self.documents();
        if documents.len() >= Self::CAPACITY && !documents.contains_key(query) {
            documents.clear();
        }
        let ops = documents.entry(query.to_owned()).or_default();
        if !ops.iter().any(|(op, _)| op.as_deref() == operation) {
            ops.push((operation.map(str::to_owned), whole));
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn check_rules(
    registry: &Registry,
    doc: &ExecutableDocument,
    variables: Option<&Variables>,
    operation_name: Option<&str>,
    mode: ValidationMode,
    limit_complexity: Option<usize>,
    limit_depth: Option<usize>,
    document_checked: bool,
) -> Result<ValidationResult, Vec<ServerError>> {
    let mut cache_control = CacheControl::default();
    let mut complexity = 0;
    let mut depth = 0;

    let mut ctx = VisitorContext::new(registry, doc, variables, operation_name);
    let errors = match mode {
        // referral-hub patch: a document that passed every rule before (see
        // `CheckedDocuments`) meets again only the one rule that reads the
        // variables' values, with the measures (complexity reads them too).
        ValidationMode::Strict if document_checked => {
            let mut visitor = VisitorNil
                .with(rules::ArgumentsOfCorrectType::default())
                .with(visitors::CacheControlCalculate {
                    cache_control: &mut cache_control,
                })
                .with(visitors::ComplexityCalculate::new(&mut complexity))
                .with(visitors::DepthCalculate::new(&mut depth));
            visit(&mut visitor, &mut ctx, doc);
            ctx.errors
        }
        ValidationMode::Strict => {
            let mut visitor = VisitorNil
                .with(rules::ArgumentsOfCorrectType::default())
                .with(rules::DefaultValuesOfCorrectType)
                .with(rules::FieldsOnCorrectType)
                .with(rules::FragmentsOnCompositeTypes)
                .with(rules::KnownArgumentNames::default())
                .with(rules::NoFragmentCycles::default())
                .with(rules::KnownFragmentNames)
                .with(rules::KnownTypeNames)
                .with(rules::NoUndefinedVariables::default())
                .with(rules::NoUnusedFragments::default())
                .with(rules::NoUnusedVariables::default())
                .with(rules::UniqueArgumentNames::default())
                .with(rules::UniqueVariableNames::default())
                .with(rules::VariablesAreInputTypes)
                .with(rules::VariableInAllowedPosition::default())
                .with(rules::ScalarLeafs)
                .with(rules::PossibleFragmentSpreads::default())
                .with(rules::ProvidedNonNullArguments)
                .with(rules::KnownDirectives::default())
                .with(rules::DirectivesUnique)
                .with(rules::OverlappingFieldsCanBeMerged)
                .with(rules::UploadFile);
            visit(&mut visitor, &mut ctx, doc);

            let mut visitor = VisitorNil
                .with(visitors::CacheControlCalculate {
                    cache_control: &mut cache_control,
                })
                .with(visitors::ComplexityCalculate::new(&mut complexity))
                .with(visitors::DepthCalculate::new(&mut depth));
            visit(&mut visitor, &mut ctx, doc);
            ctx.errors
        }
        ValidationMode::Fast => {
            let mut visitor = VisitorNil
                .with(rules::NoFragmentCycles::default())
                .with(rules::UploadFile)
                .with(visitors::CacheControlCalculate {
                    cache_control: &mut cache_control,
                })
                .with(visitors::ComplexityCalculate::new(&mut complexity))
                .with(visitors::DepthCalculate::new(&mut depth));
            visit(&mut visitor, &mut ctx, doc);
            ctx.errors
        }
    };

    // check limit
    if let Some(limit_complexity) = limit_complexity
        && complexity > limit_complexity
    {
        return Err(vec![ServerError::new("Query is too complex.", None)]);
    }

    if let Some(limit_depth) = limit_depth
        && depth > limit_depth
    {
        return Err(vec![ServerError::new("Query is nested too deep.", None)]);
    }

    if !errors.is_empty() {
        return Err(errors.into_iter().map(Into::into).collect());
    }

    Ok(ValidationResult {
        cache_control,
        complexity,
        depth,
    })
}
