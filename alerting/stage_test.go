package alerting

import (
	"slices"
	"testing"
)

// tagStage appends its name to the event's message and passes it on.
type tagStage struct {
	name string
	next Sink
}

func (t *tagStage) SetNext(n Sink) { t.next = n }
func (t *tagStage) Emit(ev Event) {
	ev.Message += t.name
	t.next.Emit(ev)
}

func TestLinkOrdersStages(t *testing.T) {
	tests := []struct {
		name   string
		stages []string
		want   string
	}{
		{"none", nil, ">"},
		{"one", []string{"a"}, ">a"},
		{"in order", []string{"a", "b", "c"}, ">abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got1, got2 []string
			end := Fanout{
				SinkFunc(func(ev Event) { got1 = append(got1, ev.Message) }),
				SinkFunc(func(ev Event) { got2 = append(got2, ev.Message) }),
			}
			var stages []Stage
			for _, n := range tc.stages {
				stages = append(stages, &tagStage{name: n})
			}
			Link(end, stages...).Emit(Event{Message: ">"})
			want := []string{tc.want}
			if !slices.Equal(got1, want) || !slices.Equal(got2, want) {
				t.Fatalf("the end's sinks got %q and %q, want %q each", got1, got2, want)
			}
		})
	}
}
