package config

import (
	"math"
	"net/url"
)

// tracing checks tracing: an absolute http(s) endpoint URL without credentials, query or
// fragment, and a sample ratio between 0 and 1 that only makes sense with an endpoint.
func (v *validator) tracing(t *Tracing) {
	if t.OTLPEndpoint == "" {
		if t.SampleRatio != nil {
			v.addf("tracing.sample_ratio", "needs tracing.otlp_endpoint: without a collector nothing is traced")
		}
		return
	}
	u, err := url.Parse(t.OTLPEndpoint)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.addf("tracing.otlp_endpoint", "must be an absolute http or https URL (got %q)", t.OTLPEndpoint)
	case u.User != nil:
		v.addf("tracing.otlp_endpoint", "must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		v.addf("tracing.otlp_endpoint", "must not have a query or fragment")
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.addf("tracing.sample_ratio", "must be between 0 and 1 (got %v)", *r)
	}
}
