package commands

import (
	"reflect"
	"testing"

	"github.com/xbuild/xbuild/exporter"
)

func TestWithPush(t *testing.T) {
	t.Parallel()
	pushed := exporter.Output{Type: exporter.TypeImage, Attrs: map[string]string{"push": "true", "unpack": "false"}}
	tests := []struct {
		name string
		in   []exporter.Output
		want []exporter.Output
	}{
		{name: "no output", want: []exporter.Output{pushed}},
		{
			name: "an image output is pushed",
			in:   []exporter.Output{{Type: exporter.TypeImage, Attrs: map[string]string{"name": "r/a"}}},
			want: []exporter.Output{{Type: exporter.TypeImage, Attrs: map[string]string{"name": "r/a", "push": "true", "unpack": "false"}}},
		},
		{
			name: "unpack given stays",
			in:   []exporter.Output{{Type: exporter.TypeImage, Attrs: map[string]string{"unpack": "true"}}},
			want: []exporter.Output{{Type: exporter.TypeImage, Attrs: map[string]string{"push": "true", "unpack": "true"}}},
		},
		{
			name: "other outputs get a pushed image beside them",
			in:   []exporter.Output{{Type: exporter.TypeLocal, Dest: "out"}},
			want: []exporter.Output{{Type: exporter.TypeLocal, Dest: "out"}, pushed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := withPush(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("withPush(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
