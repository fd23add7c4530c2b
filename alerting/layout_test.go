package alerting

import (
	"testing"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskmon/riskmon/sensors"
)

// TestSubjectsPacked checks that the engine lays out its subjects side by
// side in registry order, with their threshold states, early-warning
// states and windows likewise each in one run, that no subject's states
// have room to grow into the next one's, and that the map, the shards
// and the registry index all hold the packed subjects.
func TestSubjectsPacked(t *testing.T) {
	tests := []struct {
		name string
		reg  func(t *testing.T) *sensors.Registry
	}{
		{"every kind", func(t *testing.T) *sensors.Registry { return fleetRegistry(t, 3) }},
		{"one kind", func(t *testing.T) *sensors.Registry { return fleetRegistry(t, 5, "combustible_gas") }},
		{"gateways of gas and level", func(t *testing.T) *sensors.Registry { return gatewayFleet(t, 3, 2, 10) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(tt.reg(t), nil, Options{Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			set := e.rules()
			// Addresses as numbers: a pointer one past the end of an
			// allocation is not a valid pointer (checkptr rejects it).
			addr := func(p unsafe.Pointer) uintptr { return uintptr(p) }
			var nextSubject, nextRule, nextEarly, nextWin uintptr
			n, wins := 0, 0
			for i, s := range set.bySensor {
				if s == nil {
					continue
				}
				n++
				ent := set.entries[i]
				if set.subjects[subjectKey{ent.Site, ent.ID}] != s {
					t.Errorf("%s/%s: the map holds another subject than the registry index", ent.Site, ent.ID)
				}
				found := false
				for _, o := range s.shard.subjects {
					found = found || o == s
				}
				if !found {
					t.Errorf("%s/%s: not among its shard's subjects", ent.Site, ent.ID)
				}
				if nextSubject != 0 && addr(unsafe.Pointer(s)) != nextSubject {
					t.Errorf("%s/%s: subject does not follow the one before", ent.Site, ent.ID)
				}
				nextSubject = addr(unsafe.Pointer(s)) + unsafe.Sizeof(subject{})
				if cap(s.rules) != len(s.rules) || cap(s.early) != len(s.early) {
					t.Errorf("%s/%s: states with room to grow (%d/%d, %d/%d)", ent.Site, ent.ID, len(s.rules), cap(s.rules), len(s.early), cap(s.early))
				}
				if len(s.rules) > 0 {
					if nextRule != 0 && addr(unsafe.Pointer(&s.rules[0])) != nextRule {
						t.Errorf("%s/%s: threshold states do not follow the ones before", ent.Site, ent.ID)
					}
					nextRule = addr(unsafe.Pointer(&s.rules[0])) + uintptr(len(s.rules))*unsafe.Sizeof(ruleState{})
				}
				if len(s.early) > 0 {
					if nextEarly != 0 && addr(unsafe.Pointer(&s.early[0])) != nextEarly {
						t.Errorf("%s/%s: early-warning states do not follow the ones before", ent.Site, ent.ID)
					}
					nextEarly = addr(unsafe.Pointer(&s.early[0])) + uintptr(len(s.early))*unsafe.Sizeof(earlyRuleState{})
				}
				if s.win != nil {
					wins++
					if nextWin != 0 && addr(unsafe.Pointer(s.win)) != nextWin {
						t.Errorf("%s/%s: window does not follow the one before", ent.Site, ent.ID)
					}
					nextWin = addr(unsafe.Pointer(s.win)) + unsafe.Sizeof(window{})
				}
			}
			if n < 2 || wins < 2 {
				t.Fatalf("%d subjects, %d windows: too few to check the layout", n, wins)
			}
		})
	}
}
