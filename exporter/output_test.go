package exporter

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Output
		wantErr bool
	}{
		{name: "bare folder", in: "out", want: Output{Type: "local", Dest: "out", Attrs: map[string]string{}}},
		{name: "stdout", in: "-", want: Output{Type: "tar", Dest: "-", Attrs: map[string]string{}}},
		{name: "oci", in: "type=oci,dest=a.tar,compression=zstd", want: Output{Type: "oci", Dest: "a.tar", Attrs: map[string]string{"compression": "zstd"}}},
		{name: "registry", in: "type=registry,name=r/x:1", want: Output{Type: "image", Attrs: map[string]string{"name": "r/x:1", "push": "true", "unpack": "false"}}},
		{name: "quoted names", in: `type=image,"name=a/b:1,a/b:2",push=false`, want: Output{Type: "image", Attrs: map[string]string{"name": "a/b:1,a/b:2", "push": "false"}}},
		{name: "docker load", in: "type=docker", want: Output{Type: "docker", Attrs: map[string]string{}}},
		{name: "no type", in: "dest=x", wantErr: true},
		{name: "unknown type", in: "type=zip,dest=x", wantErr: true},
		{name: "local without dest", in: "type=local", wantErr: true},
		{name: "bad bool", in: "type=image,push=maybe", wantErr: true},
		{name: "bad compression", in: "type=oci,dest=x,compression=lz4", wantErr: true},
		{name: "not key value", in: "type=oci,dest", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]string{tt.in})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got[0], tt.want)
			}
		})
	}
}
