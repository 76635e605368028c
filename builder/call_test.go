package builder

import (
	"maps"
	"testing"
)

func TestParseCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, name, format string
		ignore           bool
		wantErr          string
	}{
		{in: ""},
		{in: "build"},
		{in: "check", name: "lint"},
		{in: "lint", name: "lint"},
		{in: "outline,format=json", name: "outline", format: "json"},
		{in: "format=json,targets", name: "targets", format: "json"},
		{in: "check,ignorestatus=true", name: "lint", ignore: true},
		{in: "subrequests.describe", name: "subrequests.describe"},
		{in: "foo", wantErr: `unknown method "foo": use build, check, outline, targets or subrequests.describe`},
		{in: "outline,format=yaml", wantErr: `unknown format "yaml": use format=json, or leave it out for text`},
		{in: "check,what=1", wantErr: "invalid print field: what=1"},
		{in: "check,outline", wantErr: "invalid print value: check,outline"},
		{in: "check,ignorestatus=maybe", wantErr: `invalid ignorestatus print value: maybe: strconv.ParseBool: parsing "maybe": invalid syntax`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			cf, err := ParseCall(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseCall(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCall(%q) = %v", tc.in, err)
			}
			if tc.name == "" {
				if cf != nil {
					t.Fatalf("ParseCall(%q) = %+v, want nil (a build)", tc.in, cf)
				}
				return
			}
			if cf == nil || cf.Name != tc.name || cf.Format != tc.format || cf.IgnoreStatus != tc.ignore {
				t.Fatalf("ParseCall(%q) = %+v, want %s/%s/%t", tc.in, cf, tc.name, tc.format, tc.ignore)
			}
		})
	}
}

func TestCallAttrs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{name: "nil", want: map[string]string{"frontend.caps": subrequestsCap, "requestid": "frontend.lint"}},
		{
			name: "attests dropped, caps kept",
			in:   map[string]string{"attest:provenance": "mode=min", "frontend.caps": "a", "target": "x"},
			want: map[string]string{"frontend.caps": "a," + subrequestsCap, "target": "x", "requestid": "frontend.lint"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := callAttrs(tc.in, "lint"); !maps.Equal(got, tc.want) {
				t.Errorf("callAttrs(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDropForCall(t *testing.T) {
	t.Parallel()
	cf, _ := ParseCall("check")
	r := &Request{Call: cf, Attests: map[string]Attest{"sbom": {}}, IIDFile: "x"}
	r.DropForCall()
	if r.Outputs != nil || r.Attests != nil || r.IIDFile != "" {
		t.Errorf("DropForCall() left %+v", r)
	}
}
