package cluster

import "testing"

func TestFloor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		start     uint64
		delivered []uint64
		stored    []uint64
		want      uint64
		naked     uint64 // handed back before the stores
	}{
		{"nothing handed on", 40, nil, nil, 40, 0},
		{"all stored", 40, []uint64{41, 45, 46}, []uint64{41, 45, 46}, 46, 0},
		{"none stored", 40, []uint64{41, 45}, nil, 40, 0},
		{"the oldest not stored", 40, []uint64{41, 45, 46}, []uint64{45, 46}, 40, 0},
		{"stored out of order", 40, []uint64{41, 45, 46, 50}, []uint64{46, 41}, 44, 0},
		{"a redelivery behind newer ones", 40, []uint64{41, 45, 43}, []uint64{41, 45}, 42, 0},
		{"a tag never handed on here", 40, []uint64{41}, []uint64{99}, 40, 0},
		{"a sequence handed on twice, stored once", 40, []uint64{41, 41}, []uint64{41}, 40, 0},
		{"handed back, then handed on again and stored", 40, []uint64{41, 42, 41}, []uint64{42, 41}, 42, 41},
		{"handed back and not yet again", 40, []uint64{41, 42}, []uint64{42}, 42, 41},
	} {
		var f floor
		f.start(tc.start)
		for _, s := range tc.delivered {
			f.delivered(s)
		}
		if tc.naked != 0 {
			f.forget(tc.naked)
		}
		for _, s := range tc.stored {
			f.stored(s)
		}
		if got := f.value(); got != tc.want {
			t.Errorf("%s: floor %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		seq uint64
		p   int
	}{{1, 0}, {1 << 40, MaxPartitions - 1}, {77, 5}} {
		if s, p := splitTag(storedTag(tc.seq, tc.p)); s != tc.seq || p != tc.p {
			t.Errorf("tag of %d/%d came back %d/%d", tc.seq, tc.p, s, p)
		}
	}
}
