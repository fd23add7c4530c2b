package ingest

import (
	"testing"

	"github.com/riskmon/riskmon/protocol"
	"github.com/riskmon/riskmon/protocol/lineproto"
	"github.com/riskmon/riskmon/protocol/sparkplug"
)

// TestDecoderReasonsAreKnown: the wire decoders name their rejections in
// plain strings; each must be a Reason of ours, or its rejections would
// go uncounted (Metrics.Rejected has no counter for it).
func TestDecoderReasonsAreKnown(t *testing.T) {
	known := map[Reason]bool{}
	for _, r := range AllReasons() {
		known[r] = true
	}
	decoders := map[string][]string{
		"protocol": {protocol.ReasonMalformed, protocol.ReasonBadSchema, protocol.ReasonEmptyBatch, protocol.ReasonTooMany,
			protocol.ReasonMissingSensor, protocol.ReasonBadValue, protocol.ReasonBadTimestamp, protocol.ReasonNoTimestamp, protocol.ReasonBadQuality},
		"lineproto": {lineproto.ReasonMalformed, lineproto.ReasonEmptyBatch, lineproto.ReasonMissingSensor, lineproto.ReasonBadValue,
			lineproto.ReasonNoTimestamp, lineproto.ReasonBadTimestamp, lineproto.ReasonBadQuality, lineproto.ReasonBadSchema},
		"sparkplug": {sparkplug.ReasonBadTopic, sparkplug.ReasonMalformed, sparkplug.ReasonBadSchema, sparkplug.ReasonUnknownAlias,
			sparkplug.ReasonNullValue, sparkplug.ReasonUnsupportedType, sparkplug.ReasonMissingSensor, sparkplug.ReasonBadValue,
			sparkplug.ReasonNotFinite, sparkplug.ReasonNoTimestamp, sparkplug.ReasonBadTimestamp},
	}
	for pkg, reasons := range decoders {
		for _, r := range reasons {
			if !known[Reason(r)] {
				t.Errorf("%s reason %q is not a Reason of ingest", pkg, r)
			}
		}
	}
}
