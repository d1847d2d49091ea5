"""Every span name, attribute key and metric name the router emits.

GenAI keys follow the OpenTelemetry GenAI semantic conventions (v1.41); ``openinference.*``
makes Arize Phoenix draw the tree; the router's own keys live under ``agentroute.*``. The
route span never carries ``gen_ai.operation.name`` or ``gen_ai.request.model`` (a backend
would count it as a model call).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AFFINITY_BREAK_REASON",
    "AFFINITY_DEPLOYMENT",
    "AFFINITY_HIT",
    "AFFINITY_KIND",
    "AFFINITY_PREVIOUS",
    "AGENT_OPERATION",
    "AGENT_SPAN_PREFIX",
    "AGREEMENT_BUCKETS",
    "ATTEMPT_COUNT",
    "ATTEMPT_NUMBER",
    "CANCELLED",
    "CHAT_OPERATION",
    "COST_USD",
    "DECISION_CANDIDATES",
    "DECISION_CAUSE",
    "DECISION_CONTRIBUTION_PREFIX",
    "DECISION_PREVIOUS_TIER",
    "DECISION_REASON",
    "DECISION_SCORE",
    "DECISION_TIER",
    "DEPLOYMENT",
    "DURATION_BUCKETS",
    "ERROR_TYPE",
    "GEN_AI_AGENT_NAME",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "METRIC_AFFINITY_BREAKS",
    "METRIC_AFFINITY_HITS",
    "METRIC_ATTRIBUTES",
    "METRIC_COST",
    "METRIC_DECISIONS",
    "METRIC_ESCALATIONS",
    "METRIC_FALLBACKS",
    "METRIC_OPERATION_DURATION",
    "METRIC_SESSIONS_EVICTED",
    "METRIC_SESSION_OUTCOMES",
    "METRIC_SHADOW_AGREEMENT",
    "METRIC_SHADOW_COST",
    "METRIC_SHADOW_SAMPLES",
    "METRIC_STATE_BREAKER",
    "METRIC_STATE_ERRORS",
    "METRIC_STATE_SKIPPED",
    "METRIC_TOKEN_USAGE",
    "MODEL",
    "OI_AGENT",
    "OI_CHAIN",
    "OI_LLM",
    "OPENINFERENCE_PROJECT_NAME",
    "OPENINFERENCE_SPAN_KIND",
    "OUTCOME",
    "OUTCOME_LABEL",
    "OUTCOME_SCORE",
    "OUTCOME_SESSION_KNOWN",
    "OUTCOME_SPAN",
    "OUTCOME_SUCCESS",
    "PROVIDER_NAMES",
    "ROUTE_SPAN",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SESSION_HIGHEST_TIER",
    "SESSION_START_TIER",
    "SESSION_STEP",
    "SHADOW_AGREEMENT",
    "SHADOW_COST_USD",
    "SHADOW_JUDGE",
    "SHADOW_REASON",
    "SHADOW_REFERENCE_MODEL",
    "SHADOW_REFERENCE_TIER",
    "SHADOW_RESULT",
    "SHADOW_SERVED_COST_USD",
    "SHADOW_SERVED_MODEL",
    "SHADOW_SERVED_TIER",
    "SHADOW_SPAN",
    "STATE_BREAKER",
    "STATE_OPERATION",
    "SWITCH_CACHE_LOSS",
    "SWITCH_EXPECTED_SAVING",
    "TOKEN_USAGE_BUCKETS",
    "USAGE_ESTIMATED",
]

# Span names ---------------------------------------------------------------------------------

AGENT_SPAN_PREFIX: Final = "invoke_agent"
ROUTE_SPAN: Final = "agentroute.route"
CHAT_OPERATION: Final = "chat"
AGENT_OPERATION: Final = "invoke_agent"

# OpenTelemetry GenAI / general -------------------------------------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
"""The newer name of the cache-creation count; both are set."""
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"

OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OI_AGENT: Final = "AGENT"
OI_CHAIN: Final = "CHAIN"
OI_LLM: Final = "LLM"
OPENINFERENCE_PROJECT_NAME: Final = "openinference.project.name"
"""Resource attribute: the Phoenix project the spans are filed under (the CLI sets it to the
service name)."""

PROVIDER_NAMES: Final = {"openai": "openai", "anthropic": "anthropic"}
"""Provider ``kind`` → the GenAI well-known ``gen_ai.provider.name`` value."""

CANCELLED: Final = "cancelled"
"""``error.type`` of an attempt cut short by a cancellation (the caller's, or the fallback
step's per-attempt timeout, which the route span then reports as ``ProviderTimeout``)."""

# agentroute.* (route and agent spans) -------------------------------------------------------

DECISION_TIER: Final = "agentroute.decision.tier"
DECISION_PREVIOUS_TIER: Final = "agentroute.decision.previous_tier"
DECISION_CAUSE: Final = "agentroute.decision.cause"
DECISION_SCORE: Final = "agentroute.decision.score"
DECISION_CONTRIBUTION_PREFIX: Final = "agentroute.decision.contribution."
DECISION_CANDIDATES: Final = "agentroute.decision.candidates"
DECISION_REASON: Final = "agentroute.decision.reason"
AFFINITY_HIT: Final = "agentroute.affinity.hit"
AFFINITY_KIND: Final = "agentroute.affinity.kind"
AFFINITY_DEPLOYMENT: Final = "agentroute.affinity.deployment"
AFFINITY_PREVIOUS: Final = "agentroute.affinity.previous"
AFFINITY_BREAK_REASON: Final = "agentroute.affinity.break_reason"
SWITCH_EXPECTED_SAVING: Final = "agentroute.switch.expected_saving"
SWITCH_CACHE_LOSS: Final = "agentroute.switch.cache_loss"
COST_USD: Final = "agentroute.cost.usd"
ATTEMPT_COUNT: Final = "agentroute.attempt.count"
ATTEMPT_NUMBER: Final = "agentroute.attempt.number"
SESSION_STEP: Final = "agentroute.session.step"
MODEL: Final = "agentroute.model"
"""The router's model name (a config key; the provider's own name is ``gen_ai.request.model``)."""
DEPLOYMENT: Final = "agentroute.deployment"
"""On a chat span, the deployment tried, ``provider/model`` as in the config
(``bigcloud/large-v1``): what tells two attempts at the same model apart."""
USAGE_ESTIMATED: Final = "agentroute.usage.estimated"
"""On a chat span: the response carried no usage; the tokens are the router's input count."""
OUTCOME: Final = "agentroute.outcome"

# agentroute.* (the outcome span and metric) ---------------------------------------------------

OUTCOME_SPAN: Final = "agentroute.outcome"
"""One span per outcome recorded (``session.record_outcome``, ``router.record_outcome``),
linked to the session's latest route span when it is known."""
OUTCOME_SUCCESS: Final = "agentroute.outcome.success"
"""On the span, a bool (absent: not said); on the metric ``true``, ``false`` or ``unknown``."""
OUTCOME_SCORE: Final = "agentroute.outcome.score"
OUTCOME_LABEL: Final = "agentroute.outcome.label"
OUTCOME_SESSION_KNOWN: Final = "agentroute.outcome.session_known"
"""Whether the session was known (live here, or its summary found): an outcome for an unknown or
expired session is still recorded, with this ``false``."""
SESSION_START_TIER: Final = "agentroute.session.start_tier"
SESSION_HIGHEST_TIER: Final = "agentroute.session.highest_tier"
"""By the config's tier order (``unknown`` on the metric when the session is not known)."""

# agentroute.* (the shadow span and metrics: agentroute.shadow) --------------------------------

SHADOW_SPAN: Final = "agentroute.shadow"
"""One span per shadow call (a sampled step sent to the reference tier in the background): a
root span of its own trace, linked to the step's route span."""
SHADOW_SERVED_TIER: Final = "agentroute.shadow.served_tier"
SHADOW_SERVED_MODEL: Final = "agentroute.shadow.served_model"
SHADOW_REFERENCE_TIER: Final = "agentroute.shadow.reference_tier"
SHADOW_REFERENCE_MODEL: Final = "agentroute.shadow.reference_model"
SHADOW_AGREEMENT: Final = "agentroute.shadow.agreement"
"""In [0, 1]: how far the reference tier's answer agreed with the one served (absent: no
comparison)."""
SHADOW_REASON: Final = "agentroute.shadow.reason"
"""The comparator's reason: tool names and argument keys, never a value or a text."""
SHADOW_JUDGE: Final = "agentroute.shadow.judge"
"""Whether the application's judge gave the agreement (else the default comparator)."""
SHADOW_COST_USD: Final = "agentroute.shadow.cost_usd"
SHADOW_SERVED_COST_USD: Final = "agentroute.shadow.served_cost_usd"
SHADOW_RESULT: Final = "agentroute.shadow.result"
"""What became of a sample: ``compared``, ``failed`` (no answer, or none readable),
``cancelled`` (the router closed), ``dropped_concurrency``, ``dropped_budget``."""

# Metrics ------------------------------------------------------------------------------------

METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_DECISIONS: Final = "agentroute.decisions"
METRIC_ESCALATIONS: Final = "agentroute.escalations"
METRIC_FALLBACKS: Final = "agentroute.fallbacks"
METRIC_AFFINITY_HITS: Final = "agentroute.affinity.hits"
METRIC_AFFINITY_BREAKS: Final = "agentroute.affinity.breaks"
METRIC_COST: Final = "agentroute.cost"
METRIC_SESSIONS_EVICTED: Final = "agentroute.sessions.evicted"
METRIC_STATE_ERRORS: Final = "agentroute.state.errors"
METRIC_STATE_SKIPPED: Final = "agentroute.state.skipped"
METRIC_STATE_BREAKER: Final = "agentroute.state.breaker"
METRIC_SESSION_OUTCOMES: Final = "agentroute.session.outcomes"
METRIC_SHADOW_AGREEMENT: Final = "agentroute.shadow.agreement"
METRIC_SHADOW_SAMPLES: Final = "agentroute.shadow.samples"
METRIC_SHADOW_COST: Final = "agentroute.shadow.cost"
STATE_OPERATION: Final = "agentroute.state.operation"
"""On the state store's metrics: the store operation (``cooling``, ``set_pin``, ...)."""
STATE_BREAKER: Final = "agentroute.state.breaker.state"
"""On ``agentroute.state.breaker``: the state the store's circuit breaker moved to."""

TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
AGREEMENT_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

METRIC_ATTRIBUTES: Final = frozenset(
    {
        GEN_AI_OPERATION_NAME,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_TOKEN_TYPE,
        ERROR_TYPE,
        SERVER_ADDRESS,
        DECISION_TIER,
        DECISION_CAUSE,
        MODEL,
        OUTCOME,
        OUTCOME_SUCCESS,
        OUTCOME_SESSION_KNOWN,
        SESSION_START_TIER,
        SESSION_HIGHEST_TIER,
        STATE_OPERATION,
        STATE_BREAKER,
        SHADOW_SERVED_TIER,
        SHADOW_REFERENCE_TIER,
        SHADOW_RESULT,
    }
)
"""The only attribute keys metrics may carry: all bounded by the config (never session ids)."""
