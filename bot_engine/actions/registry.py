"""The default actions every assistant has (overridable by a custom action of the same name)."""

from bot_engine.actions import (
    defaults,
    flow_actions,
    slot_rejections,
    two_stage_fallback,
    voice,
)

DEFAULT_ACTIONS = {
    a.name: a()
    for a in (
        defaults.ActionListen,
        defaults.ActionRestart,
        defaults.ActionSessionStart,
        defaults.ActionDefaultFallback,
        defaults.ActionDeactivateLoop,
        defaults.ActionBack,
        defaults.ActionUnlikelyIntent,
        defaults.ActionSendText,
        defaults.ActionDefaultAskAffirmation,
        defaults.ActionDefaultAskRephrase,
        defaults.ActionHumanHandoff,
        two_stage_fallback.ActionTwoStageFallback,
        flow_actions.ActionCancelFlow,
        flow_actions.ActionClarifyFlows,
        flow_actions.ActionCleanStack,
        flow_actions.ActionCorrectFlowSlot,
        flow_actions.ActionTriggerChitchat,
        flow_actions.ActionTriggerSearch,
        slot_rejections.ActionRunSlotRejections,
        voice.ActionRepeatBotMessages,
        voice.ActionHangup,
    )
}
