package fc_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kmsmig/kmsmig/twin/fc"
)

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"@every 5m", "@every 1s", "@every -5m", "@daily", "0 0 2 * * *", "0 30 7 * * ?",
		"CRON_TZ=Asia/Shanghai 0 0 2 * * *", "TZ=UTC 0 */5 * * * *", "CRON_TZ=Asia/Shanghai", "TZ=UTC",
		"CRON_TZ=Mars/Olympus 0 0 2 * * *", "0 0 2 30 2 *", "0 0 2 * * MON-FRI", "0 0 25 * * *", "* * * * *", "", "   "} {
		f.Add(s)
	}
	from := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := fc.ParseCron(expr)
		if err != nil {
			require.True(t, s == nil, "%q: a schedule and an error", expr)
			return
		}
		// An accepted schedule fires after the reference time, or never
		// (the zero time, for dates like 30 February).
		if next := s.Next(from); !next.IsZero() {
			require.True(t, next.After(from), "%q: Next(%v) = %v", expr, from, next)
		}
	})
}

// syamlErr matches what every ParseSYAML error starts with; a document
// that is well-formed YAML is refused at a path with its line.
var (
	syamlErr  = regexp.MustCompile(`^fc: s\.yaml: `)
	syamlPath = regexp.MustCompile(`^fc: s\.yaml: [^\n]* \(line \d+\): `)
)

func FuzzParseSYAML(f *testing.F) {
	for _, p := range []string{filepath.Join("testdata", "s.yaml"), filepath.Join("..", "..", "s.yaml")} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"edition: 3.0.0\nresources: {}\n",
		"edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props: {region: r, functionName: f, runtime: go1, handler: main, code: ./d}\n",
		"edition: 3.0.0\nvars: {x: ${vars.x}}\nresources: {}\n",
		"edition: 3.0.0\nvars: {x: &a {y: 1}}\nresources:\n  f:\n    component: fc3\n    props: ${vars.x}\n",
		"edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props: {region: r, functionName: f, runtime: go1, handler: main, code: ./d, memorySize: 100, timeout: 0}\n",
		"edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props: {region: r, functionName: f, runtime: go1, handler: main, code: ./d,\n      triggers: [{triggerName: t, triggerType: timer, triggerConfig: {cronExpression: 'TZ=UTC', enable: true}}]}\n",
		"edition: 2.0.0\n", "edition: [3]\n", "- a\n", "", "a: b: c", "edition: 3.0.0\nresources: *x\n", "edition: 3.0.0\nresources:\n  f: ${env(X)}\n",
	} {
		f.Add([]byte(s))
	}
	opts := fc.LoadOptions{Env: map[string]string{"ACCOUNT_ID": "1234567890123456", "BUCKET": "b", "ALIBABA_CLOUD_ACCOUNT_ID": "1234567890123456",
		"KMSMIG_STATE_BUCKET": "b", "KMSMIG_SLS_PROJECT": "p"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		fns, err := fc.ParseSYAML(data, "/srv", opts)
		if err != nil {
			require.Regexp(t, syamlErr, err.Error(), "error does not say it is about the s.yaml")
			named := strings.HasPrefix(err.Error(), "fc: s.yaml: yaml: ") || err.Error() == "fc: s.yaml: empty document" || syamlPath.MatchString(err.Error())
			require.True(t, named, "error names no yaml path and line: %v", err)
			return
		}
		names := map[string]bool{}
		for _, fn := range fns {
			require.False(t, names[fn.Name], "function %s loaded twice", fn.Name)
			names[fn.Name] = true
			require.True(t, fn.Region != "" && fn.Binary != "" && fn.Runtime != "", "function %+v lacks a region, binary or runtime", fn)
			inRange := fn.Timeout >= time.Second && fn.Timeout <= fc.MaxTimeout && fn.MemoryMB >= 128 && fn.MemoryMB <= 32768 && fn.MemoryMB%64 == 0
			require.True(t, inRange, "function %s: timeout %v, memory %d out of range", fn.Name, fn.Timeout, fn.MemoryMB)
			n := fn.AsyncInvokeConfig.Retries()
			require.True(t, n >= 0 && n <= 8, "function %s: %d retries", fn.Name, n)
			for _, d := range []string{fn.AsyncInvokeConfig.OnSuccess, fn.AsyncInvokeConfig.OnFailure} {
				if d != "" {
					_, _, _, err := fc.ParseFunctionARN(d)
					require.NoError(t, err, "function %s: destination %q", fn.Name, d)
				}
			}
			for _, tr := range fn.Triggers {
				_, err := fc.ParseCron(tr.CronExpression)
				require.NoError(t, err, "function %s: timer %+v", fn.Name, tr)
				require.NotEmpty(t, tr.Name, "function %s: timer %+v", fn.Name, tr)
			}
		}
	})
}
