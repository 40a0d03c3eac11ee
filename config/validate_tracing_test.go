package config

import (
	"strings"
	"testing"
)

func TestValidateTracing(t *testing.T) {
	base := "issuer: https://login.example.com\nconnectors: [{type: local, id: local}]\n"
	tests := []struct {
		name  string
		yaml  string
		want  string // substring of the error; "" = valid
		ratio float64
	}{
		{name: "absent", yaml: "", ratio: DefaultSampleRatio},
		{name: "endpoint only", yaml: "tracing: {otlp_endpoint: http://127.0.0.1:4318}", ratio: DefaultSampleRatio},
		{name: "ratio", yaml: "tracing: {otlp_endpoint: https://otel.example.com/v1/traces, sample_ratio: 0.25}", ratio: 0.25},
		{name: "ratio zero", yaml: "tracing: {otlp_endpoint: https://otel.example.com, sample_ratio: 0}", ratio: 0},
		{name: "ratio one", yaml: "tracing: {otlp_endpoint: https://otel.example.com, sample_ratio: 1}", ratio: 1},
		{name: "ratio without endpoint", yaml: "tracing: {sample_ratio: 0.5}", want: "gatehouse.yaml:3: tracing.sample_ratio: needs tracing.otlp_endpoint"},
		{name: "ratio above one", yaml: "tracing: {otlp_endpoint: http://c:4318, sample_ratio: 1.5}", want: "tracing.sample_ratio: must be between 0 and 1"},
		{name: "ratio negative", yaml: "tracing: {otlp_endpoint: http://c:4318, sample_ratio: -0.1}", want: "must be between 0 and 1"},
		{name: "ratio NaN", yaml: "tracing: {otlp_endpoint: http://c:4318, sample_ratio: .nan}", want: "must be between 0 and 1"},
		{name: "relative", yaml: "tracing: {otlp_endpoint: collector:4318}", want: "tracing.otlp_endpoint: must be an absolute http or https URL"},
		{name: "grpc scheme", yaml: "tracing: {otlp_endpoint: grpc://c:4317}", want: "absolute http or https URL"},
		{name: "no host", yaml: "tracing: {otlp_endpoint: 'http:///v1/traces'}", want: "absolute http or https URL"},
		{name: "credentials", yaml: "tracing: {otlp_endpoint: 'https://u:p@c/v1/traces'}", want: "must not carry credentials"},
		{name: "query", yaml: "tracing: {otlp_endpoint: 'https://c/v1/traces?x=1'}", want: "must not have a query"},
		{name: "unknown key", yaml: "tracing: {otlp_endpoint: http://c:4318, sample_rate: 0.1}", want: "gatehouse.yaml:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base+tt.yaml+"\n"), "gatehouse.yaml", nil)
			if err == nil {
				c.ApplyDefaults()
				err = c.Validate()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Tracing.Ratio(); got != tt.ratio {
					t.Errorf("ratio = %v, want %v", got, tt.ratio)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
