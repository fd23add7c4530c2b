package protocol

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// sameDecode checks that Decode and the full decoder give the same result
// for payload, and returns whether the fast path took it.
func sameDecode(t *testing.T, payload []byte, maxItems int) bool {
	t.Helper()
	fast := NewDecoder(maxItems).decodeFast(payload)
	got, gotErr := NewDecoder(maxItems).Decode(payload)
	want, wantErr := NewDecoder(maxItems).decodeFull(payload)
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("Decode error %v, full decoder error %v", gotErr, wantErr)
	case gotErr != nil:
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("Decode error %q, full decoder error %q", gotErr, wantErr)
		}
	case got.Seq != want.Seq || got.HasSeq != want.HasSeq || !sameReadings(got.Readings, want.Readings):
		t.Fatalf("Decode gave\n%+v\nthe full decoder\n%+v", *got, *want)
	}
	return fast
}

// sameReadings compares readings field by field, values by their bits,
// so that NaN equals NaN and -0 differs from 0.
func sameReadings(a, b []Reading) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if math.Float64bits(x.Value) != math.Float64bits(y.Value) {
			return false
		}
		x.Value, y.Value = 0, 0
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// TestDecodeFastPath holds which payloads the one-pass decoder takes (the
// shapes gateways send, however they space and order their keys) and that
// for every payload, taken or not, Decode gives what the full decoder
// gives.
func TestDecodeFastPath(t *testing.T) {
	many := `{"ts":1764345600000,"readings":[` + strings.Repeat(`{"sensor":"GT-101","value":1},`, 4) + `{"sensor":"GT-101","value":1}]}`
	for _, tc := range []struct {
		name    string
		payload string
		fast    bool
	}{
		{"batch time", `{"ts":1764345600000,"seq":1042,"readings":[{"sensor":"GT-101","value":12.5},{"sensor":"GT-102","value":0}]}`, true},
		{"spaced and indented", "{\n  \"seq\" : 7 ,\n\t\"readings\" : [ {\"sensor\": \"GT-101\", \"value\": -3.25e-2, \"ts\": 1764345600100} ]\r\n}\n", true},
		{"reading times and quality", `{"readings":[{"value":1.62,"sensor":"PT-201","ts":1764345600100,"quality":"uncertain"},{"sensor":"PT-202","value":1,"ts":1764345600200,"quality":"bad"}]}`, true},
		{"batch time after the readings", `{"readings":[{"sensor":"GT-101","value":12.5},{"sensor":"GT-102","value":7,"ts":1764345600999}],"ts":1764345600000}`, true},
		{"historical", `{"ts":1764345600000,"historical":true,"readings":[{"sensor":"GT-101","value":12.5}]}`, true},
		{"not historical", `{"ts":1764345600000,"historical":false,"readings":[{"sensor":"GT-101","value":12.5}]}`, true},
		{"other keys with plain values", `{"gateway":"gw-01","fw":2,"ok":true,"note":null,"ts":1764345600000,"readings":[{"sensor":"GT-101","unit":"%LEL","value":12.5,"alarm":false,"raw":-1E+3}]}`, true},
		{"Chinese id", `{"ts":1764345600000,"readings":[{"sensor":"一号罐区-可燃气体-01","value":3}]}`, true},
		{"as many readings as allowed", many, true},

		{"RFC 3339 time", `{"ts":"2026-11-28T16:00:00Z","readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"escaped id", `{"ts":1764345600000,"readings":[{"sensor":"GT\u002d101","value":12.5}]}`, false},
		{"escaped key", `{"t\u0073":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"nested other value", `{"ts":1764345600000,"meta":{"fw":2},"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"duplicate key", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5,"value":13}]}`, false},
		{"NaN value", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":NaN}]}`, false},
		{"value as a string", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":"12.5"}]}`, false},
		{"value with a plus sign", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":+12.5}]}`, false},
		{"value not a number", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":1-2}]}`, false},
		{"no sensor", `{"ts":1764345600000,"readings":[{"value":12.5}]}`, false},
		{"empty sensor", `{"ts":1764345600000,"readings":[{"sensor":"","value":12.5}]}`, false},
		{"reading not an object", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":1},7]}`, false},
		{"no time at all", `{"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"time zero", `{"ts":0,"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"fractional time", `{"ts":1764345600000.5,"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"unknown quality", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5,"quality":"GOOD"}]}`, false},
		{"negative seq", `{"seq":-1,"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"historical not a bool", `{"historical":1,"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}]}`, false},
		{"empty readings", `{"ts":1764345600000,"readings":[]}`, false},
		{"no readings", `{"ts":1764345600000}`, false},
		{"too many readings", strings.Replace(many, `]}`, `,{"sensor":"GT-101","value":1}]}`, 1), false},
		{"trailing comma", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}],}`, false},
		{"trailing data", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}]} x`, false},
		{"truncated", `{"ts":1764345600000,"readings":[{"sensor":"GT-101","value":12.5}`, false},
		{"not an object", `[{"sensor":"GT-101","value":12.5}]`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fast := sameDecode(t, []byte(tc.payload), 5); fast != tc.fast {
				t.Errorf("taken by the one-pass decoder: %v, want %v", fast, tc.fast)
			}
		})
	}
}
