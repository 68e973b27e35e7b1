package plan

import (
	"strings"
	"testing"

	"github.com/kmsmig/kmsmig/shared/verdict"
)

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"key:0b30658a-ed1a-4922-b8f7-a673ca9c1234", "alias:alias/app", "alias:app", "alias:alias/",
		"tag:env=prod", "tag:env=", "tag:=x", "tag:a=b=c", "secret:app/*", "secret:[", "secret:\\", "colour:red", "key:", ":", ""} {
		f.Add(s, "alias/app", "app/db")
	}
	f.Fuzz(func(t *testing.T, s, alias, secret string) {
		fl, err := ParseFilter(s)
		if err != nil {
			if !strings.Contains(err.Error(), "filter ") {
				t.Fatalf("error does not quote the filter: %v", err)
			}
			return
		}
		text := fl.String()
		back, err := ParseFilter(text)
		if err != nil || back != fl {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, fl, text, back, err)
		}
		// The re-parsed filter selects exactly what the original selects.
		for _, v := range []*verdict.Verdict{
			{Resource: verdict.ResourceKey, ID: fl.Value, Aliases: []string{alias}, Tags: map[string]string{fl.Value: fl.TagValue}},
			{Resource: verdict.ResourceSecret, ID: secret, Tags: map[string]string{alias: secret}},
		} {
			if fl.Match(v) != back.Match(v) {
				t.Fatalf("%q and %q disagree on %+v", s, text, v)
			}
		}
	})
}
