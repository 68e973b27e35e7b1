package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

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
			require.ErrorContains(t, err, "filter ", "error does not quote the filter")
			return
		}
		text := fl.String()
		back, err := ParseFilter(text)
		require.NoError(t, err, "%q -> %+v -> %q", s, fl, text)
		require.Equal(t, fl, back, "%q -> %+v -> %q", s, fl, text)
		// The re-parsed filter selects exactly what the original selects.
		for _, v := range []*verdict.Verdict{
			{Resource: verdict.ResourceKey, ID: fl.Value, Aliases: []string{alias}, Tags: map[string]string{fl.Value: fl.TagValue}},
			{Resource: verdict.ResourceSecret, ID: secret, Tags: map[string]string{alias: secret}},
		} {
			require.Equal(t, fl.Match(v), back.Match(v), "%q and %q disagree on %+v", s, text, v)
		}
	})
}
