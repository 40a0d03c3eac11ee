package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises without a container runtime (none on CI): the
// HEALTHCHECK runs this binary's healthcheck command, /data is created in the build stage and
// copied owned by the non-root user (a WORKDIR or VOLUME alone is root-owned on some builders),
// the image carries OCI labels, and .dockerignore keeps VCS data, databases and node_modules
// out of the build context.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		`chown 65532:65532 /out/data`,
		`COPY --from=build --chown=65532:65532 /out/data /data`,
		`USER 65532:65532`,
		`CMD ["/gatehouse", "healthcheck"`,
		`org.opencontainers.image.version="${VERSION}"`,
		`org.opencontainers.image.revision="${REVISION}"`,
		`org.opencontainers.image.source=`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK `).MatchString(df) {
		t.Error("Dockerfile has no HEALTHCHECK")
	}
	ig, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "**/node_modules", "*.db", "bin/"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(ig) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
