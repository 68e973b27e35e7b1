package shared_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/kmsmig/kmsmig/"

// domain are the packages that hold the migration's rules and use cases.
// They import no SDK and no adapter: adapters import them.
var domain = []string{
	"shared/estate", "shared/verdict", "shared/plan", "shared/discover", "shared/migration",
	"shared/runstate", "shared/statekeys", "shared/approval", "shared/report", "shared/alert", "shared/audit", "shared/cloud", "shared/app",
	"shared/eventjson",
	"shared/rules",
}

// forbidden says why a dependency of a domain package is not allowed, or
// "" when it is.
func forbidden(dep string) string {
	switch {
	case strings.HasPrefix(dep, "github.com/aliyun/"), strings.HasPrefix(dep, "github.com/alibabacloud-go/"),
		strings.HasPrefix(dep, "github.com/aws/"):
		return "a cloud SDK"
	case strings.HasPrefix(dep, module+"shared/aliyun/"), dep == module+"shared/wiring":
		return "an adapter"
	case strings.HasPrefix(dep, module+"twin/"), strings.HasPrefix(dep, module+"testinfra/"):
		return "a twin or test harness"
	}
	return ""
}

// TestDomainLinksNoSDK lists every dependency of each domain package (go
// list -deps, so transitive ones count) and fails on any SDK, adapter or
// twin among them.
func TestDomainLinksNoSDK(t *testing.T) {
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard", "./"+strings.TrimPrefix(pkg, "shared/")).Output()
		require.NoError(t, err, "go list %s", pkg)
		dec := json.NewDecoder(strings.NewReader(string(out)))
		var own, third []string
		for dec.More() {
			var p struct {
				ImportPath string
				Standard   bool
			}
			require.NoError(t, dec.Decode(&p))
			if p.Standard || p.ImportPath == module+pkg {
				continue
			}
			if why := forbidden(p.ImportPath); why != "" {
				assert.Failf(t, "forbidden dependency", "%s depends on %s, %s", pkg, p.ImportPath, why)
			}
			if strings.HasPrefix(p.ImportPath, module) {
				own = append(own, strings.TrimPrefix(p.ImportPath, module+"shared/"))
			} else {
				third = append(third, p.ImportPath)
			}
		}
		t.Logf("%-17s -> %s; third-party: %s", pkg, orNone(own), orNone(third))
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// TestRulesImportStandardLibraryOnly: shared/rules is the one domain
// package the KMS twin imports (one implementation of each provider rule
// for classifier, engine and twin), so it must pull in nothing else.
func TestRulesImportStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./rules").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	assert.Equal(t, []string{module + "shared/rules"}, deps, "shared/rules may import the standard library only")
}
