package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/riskmon/riskmon/sensors"
)

func readingsN(n int) []sensors.Reading {
	rs := make([]sensors.Reading, n)
	for i := range rs {
		rs[i] = sensors.Reading{Site: "hz-01", Sensor: fmt.Sprintf("GT-%d", i), Kind: "combustible_gas",
			Sector: sensors.SectorHazchem, Value: float64(i) + 0.5, Time: time.UnixMilli(1764345600000 + int64(i))}
	}
	return rs
}

// A reading on time and of good quality is one field; the others are
// written only when they carry something, received only where device and
// ingest time differ by more than the tolerance.
func TestAppendReading(t *testing.T) {
	base := sensors.Reading{Site: "hz 01", Sensor: "GT,1=2", Kind: "combustible_gas", Sector: "hazchem",
		Value: 12.5, Time: time.UnixMilli(1764345600123), Received: time.UnixMilli(1764345600456)}
	const tags = `reading,kind=combustible_gas,sector=hazchem,sensor=GT\,1\=2,site=hz\ 01 `
	tests := []struct {
		name   string
		edit   func(*sensors.Reading)
		fields string
	}{
		{"on time, good", func(*sensors.Reading) {}, `value=12.5`},
		{"uncertain", func(r *sensors.Reading) { r.Quality = sensors.QualityUncertain }, `value=12.5,quality="uncertain"`},
		{"bad", func(r *sensors.Reading) { r.Quality = sensors.QualityBad }, `value=12.5,quality="bad"`},
		{"delayed", func(r *sensors.Reading) { r.Delayed = true }, `value=12.5,received=1764345600456i`},
		{"skewed and historical", func(r *sensors.Reading) { r.ClockSkewed, r.Historical = true, true },
			`value=12.5,clock_skewed=true,historical=true,received=1764345600456i`},
		{"historical, receive time unknown", func(r *sensors.Reading) { r.Historical, r.Received = true, time.Time{} },
			`value=12.5,historical=true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			got := string(AppendReading(nil, &r))
			want := tags + tt.fields + " 1764345600123\n"
			if got != want {
				t.Fatalf("AppendReading =\n%s want\n%s", got, want)
			}
			if err := parseLines(got); err != nil {
				t.Fatalf("does not parse as line protocol: %v", err)
			}
		})
	}
}

// Tag values escape what line protocol reserves and never split a line:
// every tag and the field after them read back as InfluxDB's parser sees
// them. A backslash is written doubled and read back so (registry ids
// never hold one).
func TestAppendReadingEscapes(t *testing.T) {
	tests := []struct {
		name, site, want string
	}{
		{"plain", "hz-01", "hz-01"},
		{"space comma equals", "a b,c=d", "a b,c=d"},
		{"backslash", `c:\x`, `c:\\x`},
		{"line break", "a\nb\rc", "a b c"},
		// Each reserved byte alone, at either end: a clean value is copied
		// whole, so the check for one must see every position.
		{"comma last", "ab,", "ab,"},
		{"equals first", "=ab", "=ab"},
		{"space last", "ab ", "ab "},
		{"backslash first", `\ab`, `\\ab`},
		{"line feed last", "ab\n", "ab "},
		{"carriage return last", "ab\r", "ab "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sensors.Reading{Site: tt.site, Sensor: "s", Kind: "k", Sector: "x", Value: 1, Time: time.UnixMilli(1)}
			line := AppendReading(nil, &r)
			dec := lineprotocol.NewDecoderWithBytes(line)
			if !dec.Next() {
				t.Fatalf("no line in %q", line)
			}
			if _, err := dec.Measurement(); err != nil {
				t.Fatal(err)
			}
			tags := map[string]string{}
			for {
				k, v, err := dec.NextTag()
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				if k == nil {
					break
				}
				tags[string(k)] = string(v)
			}
			if len(tags) != 4 || tags[TagSite] != tt.want || tags[TagSensor] != "s" {
				t.Fatalf("tags read back as %q, want site %q among 4 (line %q)", tags, tt.want, line)
			}
			k, v, err := dec.NextField()
			if err != nil || string(k) != FieldValue || v.FloatV() != 1 {
				t.Fatalf("field read back as %s=%v, %v (line %q)", k, v, err, line)
			}
		})
	}
}

func BenchmarkAppendReading(b *testing.B) {
	rs := readingsN(10)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range rs {
			buf = AppendReading(buf, &rs[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
}

func TestAppendAlertEvent(t *testing.T) {
	a := AlertEvent{Rule: "combustible_gas_high", Site: "hz 01", Sensor: "GT-101", Type: "fired", AlertID: "ab12",
		Message: `27 %LEL >= 25 "orange"` + "\nx\\", Level: 2, Value: 27.5, Setpoint: 25, At: time.UnixMilli(1764345600123)}
	got := string(AppendAlertEvent(nil, &a))
	want := `alert_event,level=2,rule=combustible_gas_high,sensor=GT-101,site=hz\ 01,type=fired alert_id="ab12",message="27 %LEL >= 25 \"orange\" x\\",setpoint=25,value=27.5 1764345600123` + "\n"
	if got != want {
		t.Fatalf("AppendAlertEvent =\n%s want\n%s", got, want)
	}
	if err := parseLines(got); err != nil {
		t.Fatalf("does not parse as line protocol: %v", err)
	}
}

// The marks of an event are fields, present only when set, and parse as
// line protocol.
func TestAppendAlertEventMarks(t *testing.T) {
	base := AlertEvent{Rule: "r", Site: "s", Sensor: "x", Type: "fired", AlertID: "id", Level: 1, At: time.UnixMilli(1)}
	tests := []struct {
		name string
		edit func(*AlertEvent)
		want string // the field list after value=0
	}{
		{"none", func(*AlertEvent) {}, ""},
		{"late", func(a *AlertEvent) { a.Late = true }, ",late=true"},
		{"planned and shelved", func(a *AlertEvent) { a.Planned, a.Shelved = true, `s"1` }, `,planned=true,shelved="s\"1"`},
		{"flapping", func(a *AlertEvent) { a.Flapping = true }, ",flapping=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.edit(&a)
			got := string(AppendAlertEvent(nil, &a))
			want := `alert_event,level=1,rule=r,sensor=x,site=s,type=fired alert_id="id",message="",setpoint=0,value=0` + tt.want + " 1\n"
			if got != want {
				t.Fatalf("got\n%s want\n%s", got, want)
			}
			if err := parseLines(got); err != nil {
				t.Fatalf("does not parse as line protocol: %v", err)
			}
		})
	}
}

// parseLines reads every line, field and timestamp as InfluxDB would.
func parseLines(s string) error {
	dec := lineprotocol.NewDecoderWithBytes([]byte(s))
	for dec.Next() {
		if _, err := dec.Measurement(); err != nil {
			return err
		}
		for {
			k, _, err := dec.NextTag()
			if err != nil {
				return err
			}
			if k == nil {
				break
			}
		}
		for {
			k, _, err := dec.NextField()
			if err != nil {
				return err
			}
			if k == nil {
				break
			}
		}
		if _, err := dec.Time(lineprotocol.Millisecond, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// A reading that carries its registry entry has its names copied without
// a check for bytes to escape, and only when they are the entry's own
// and the entry's names are plain: anything else is escaped as before.
func TestAppendReadingRegistryNames(t *testing.T) {
	reg, err := sensors.NewRegistry(sensors.DefaultCatalog(),
		[]sensors.Site{{ID: "hz-01", Sector: sensors.SectorHazchem}, {ID: "hz 02", Sector: sensors.SectorHazchem}},
		[]sensors.Sensor{
			{ID: "GT-1", Site: "hz-01", Kind: "combustible_gas"},
			{ID: "GT,2=x", Site: "hz 02", Kind: "combustible_gas"}, // names no registry file takes
		})
	if err != nil {
		t.Fatal(err)
	}
	plain, odd := reg.Sensors()[0], reg.Sensors()[1]
	reading := func(s *sensors.Sensor) sensors.Reading {
		return sensors.Reading{Site: s.Site, Sensor: s.ID, Kind: s.Kind, Sector: sensors.SectorHazchem,
			Value: 1, Time: time.UnixMilli(1), Ref: s}
	}
	tests := []struct {
		name string
		edit func(*sensors.Reading)
		ref  *sensors.Sensor
		tags string
	}{
		{"registry names", func(*sensors.Reading) {}, plain,
			`kind=combustible_gas,sector=hazchem,sensor=GT-1,site=hz-01`},
		{"names the registry let through unchecked", func(*sensors.Reading) {}, odd,
			`kind=combustible_gas,sector=hazchem,sensor=GT\,2\=x,site=hz\ 02`},
		{"site changed after validation", func(r *sensors.Reading) { r.Site = "hz 03" }, plain,
			`kind=combustible_gas,sector=hazchem,sensor=GT-1,site=hz\ 03`},
		{"sensor changed", func(r *sensors.Reading) { r.Sensor = "a=b" }, plain,
			`kind=combustible_gas,sector=hazchem,sensor=a\=b,site=hz-01`},
		{"kind changed", func(r *sensors.Reading) { r.Kind = "x y" }, plain,
			`kind=x\ y,sector=hazchem,sensor=GT-1,site=hz-01`},
		{"sector is always checked", func(r *sensors.Reading) { r.Sector = "a,b" }, plain,
			`kind=combustible_gas,sector=a\,b,sensor=GT-1,site=hz-01`},
		{"no registry entry", func(r *sensors.Reading) { r.Ref, r.Site = nil, "hz 01" }, plain,
			`kind=combustible_gas,sector=hazchem,sensor=GT-1,site=hz\ 01`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reading(tt.ref)
			tt.edit(&r)
			got := string(AppendReading(nil, &r))
			want := MeasurementReading + "," + tt.tags + " value=1 1\n"
			if got != want {
				t.Fatalf("AppendReading =\n%s want\n%s", got, want)
			}
			if err := parseLines(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every name sensors.ValidID takes is free of the bytes a tag value
// escapes, which is what lets AppendReading copy registry names whole.
func TestValidIDHasNoReservedByte(t *testing.T) {
	for c := range 256 {
		if !tagReserved[c] {
			continue
		}
		for _, id := range []string{string(rune(c)), "a" + string(rune(c)), string([]byte{'a', byte(c), 'b'})} {
			if sensors.ValidID(id) {
				t.Errorf("ValidID(%q) = true; it holds %q, which line protocol reserves", id, byte(c))
			}
		}
	}
}

// The encoder writes what AppendReading writes, whether a reading's time
// is the one before's or not, the epoch and the zero time included.
func TestReadingEncoder(t *testing.T) {
	at := func(ms int64) sensors.Reading {
		return sensors.Reading{Site: "hz-01", Sensor: "GT-1", Kind: "combustible_gas", Sector: "hazchem", Value: 1.5, Time: time.UnixMilli(ms)}
	}
	tests := []struct {
		name string
		r    sensors.Reading
	}{
		{"epoch first", at(0)},
		{"epoch again", at(0)},
		{"a batch's time", at(1764345600123)},
		{"the same time", at(1764345600123)},
		{"a millisecond on", at(1764345600124)},
		{"back", at(1764345600123)},
		{"before the epoch", at(-5)},
		{"zero time", sensors.Reading{Site: "hz-01", Sensor: "GT-1", Kind: "combustible_gas", Sector: "hazchem"}},
		{"delayed, same time", func() sensors.Reading {
			r := at(1764345600123)
			r.Delayed, r.Received = true, time.UnixMilli(1764345609999)
			return r
		}()},
	}
	var e ReadingEncoder
	var b []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b = e.AppendReading(b[:0], &tt.r)
			if want := string(AppendReading(nil, &tt.r)); string(b) != want {
				t.Fatalf("encoder wrote\n%s want\n%s", b, want)
			}
		})
	}
}

// BenchmarkReadingEncoder is BenchmarkAppendReading for a batch whose
// readings share one time, as most gateways send them.
func BenchmarkReadingEncoder(b *testing.B) {
	rs := readingsN(10)
	for i := range rs {
		rs[i].Time = rs[0].Time
	}
	b.Run("encoder", func(b *testing.B) {
		var e ReadingEncoder
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = buf[:0]
			for i := range rs {
				buf = e.AppendReading(buf, &rs[i])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
	})
	b.Run("each", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = buf[:0]
			for i := range rs {
				buf = AppendReading(buf, &rs[i])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/reading")
	})
}
