// Package helm_test tests the Helm chart in deploy/helm/gatehouse with the helm binary this
// module pins (built into bin/helm by scripts/test-all.sh): `helm lint --strict` and
// `helm template` with several value sets, then every rendered manifest is checked.
//
// What the manifest check covers: each object is decoded strictly (unknown or duplicate
// fields refused, wrong types refused, quantities and int-or-strings parsed) into its typed
// Kubernetes API struct from k8s.io/api through client-go's scheme, which is the OpenAPI
// schema's structure for apps/v1, policy/v1 and core v1; names and labels are checked with
// apimachinery's validators; and the chart's own consistency: selectors match the pod labels,
// probes and Service target ports name container ports, every volume mount has a volume, and
// the rendered Gatehouse config has the listeners and storage the values ask for.
// What it does not cover (no API server, no network for kubeconform's schemas): required
// fields and server-side validation rules (a Deployment without containers would decode), and
// the ServiceMonitor, a CRD not in the scheme, is checked only against the subset of its
// schema the chart uses (strict decoding into a local struct).
package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/gatehouse"

// helmBin is the pinned helm: $HELM, else bin/helm at the repository root. Missing is a
// failure, not a skip: test-all builds it.
func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HELM")
	if p == "" {
		p = "../../bin/helm"
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("helm not found at %s (build it: go build -C tools/helm -o $PWD/bin/helm helm.sh/helm/v4/cmd/helm): %v", abs, err)
	}
	return abs
}

func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helmBin(t), args...)
	// A private HOME: helm reads and writes its config, cache and plugins there.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// valueSet is one set of values the chart must render, and what the result must hold.
type valueSet struct {
	name, file   string
	replicas     int32
	storage      string
	kinds        []string // kinds expected besides ConfigMap, Service, Deployment, PDB
	wantTLS      bool
	wantPostgres bool
}

func TestChart(t *testing.T) {
	sets := []valueSet{
		{name: "default", replicas: 1, storage: "sqlite", kinds: []string{"Secret", "ServiceAccount", "PersistentVolumeClaim"}},
		{name: "postgres, 3 replicas, TLS", file: "testdata/postgres-3.yaml", replicas: 3, storage: "postgres",
			kinds: []string{"Secret", "ServiceAccount"}, wantTLS: true, wantPostgres: true},
		{name: "ServiceMonitor", file: "testdata/servicemonitor.yaml", replicas: 1, storage: "sqlite",
			kinds: []string{"ServiceAccount", "ServiceMonitor"}},
	}
	for _, vs := range sets {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{chartDir}
			if vs.file != "" {
				args = append(args, "-f", vs.file)
			}
			if out, errOut, err := helm(t, append([]string{"lint", "--strict"}, args...)...); err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, errOut)
			}
			out, errOut, err := helm(t, append([]string{"template", "gh", "--namespace", "identity"}, args...)...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, errOut)
			}
			checkManifests(t, vs, out)
		})
	}
}

// TestChartRefusesSQLiteReplicas: two replicas on SQLite fail the render, saying why and
// what to do.
func TestChartRefusesSQLiteReplicas(t *testing.T) {
	_, errOut, err := helm(t, "template", "gh", chartDir, "-f", "testdata/sqlite-2.yaml")
	if err == nil {
		t.Fatal("helm template succeeded with replicaCount 2 on SQLite")
	}
	for _, want := range []string{"replicaCount is 2 but storage.type is sqlite", "storage.type: postgres"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q:\n%s", want, errOut)
		}
	}
	if _, errOut, err := helm(t, "template", "gh", chartDir, "--set", "storage.type=postgres"); err == nil ||
		!strings.Contains(errOut, "dsnSecret.name is empty") {
		t.Errorf("postgres without a DSN Secret: err %v\n%s", err, errOut)
	}
}

// serviceMonitor is the part of the monitoring.coreos.com/v1 ServiceMonitor schema the chart
// renders; strict decoding refuses anything else.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// decode decodes every document of a multi-document render into typed objects.
func decode(t *testing.T, rendered string) []runtime.Object {
	t.Helper()
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var objs []runtime.Object
	for _, doc := range strings.Split(rendered, "\n---") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
		if doc == "" || onlyComments(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		if tm.Kind == "ServiceMonitor" {
			var sm serviceMonitor
			if err := yaml.UnmarshalStrict([]byte(doc), &sm); err != nil {
				t.Fatalf("ServiceMonitor: %v\n%s", err, doc)
			}
			if sm.APIVersion != "monitoring.coreos.com/v1" {
				t.Errorf("ServiceMonitor apiVersion %s", sm.APIVersion)
			}
			objs = append(objs, &smObject{sm})
			continue
		}
		obj, gvk, err := ser.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s/%s does not match its Kubernetes schema: %v\n%s", tm.APIVersion, tm.Kind, err, doc)
		}
		if gvk.Kind != tm.Kind {
			t.Fatalf("decoded %s as %s", tm.Kind, gvk.Kind)
		}
		objs = append(objs, obj)
	}
	return objs
}

func onlyComments(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// smObject wraps a serviceMonitor as a runtime.Object for the list of rendered objects.
type smObject struct{ serviceMonitor }

func (s *smObject) GetObjectKind() schema.ObjectKind { return &s.TypeMeta }
func (s *smObject) DeepCopyObject() runtime.Object   { c := *s; return &c }

// checkManifests checks one render (see the package comment).
func checkManifests(t *testing.T, vs valueSet, rendered string) {
	t.Helper()
	objs := decode(t, rendered)
	kinds := map[string]int{}
	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		pdb *policyv1.PodDisruptionBudget
		cm  *corev1.ConfigMap
		sm  *smObject
	)
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		kinds[kind]++
		meta, err := metaOf(o)
		if err != nil {
			t.Fatal(err)
		}
		checkMeta(t, kind, meta)
		switch x := o.(type) {
		case *appsv1.Deployment:
			dep = x
		case *corev1.Service:
			svc = x
		case *policyv1.PodDisruptionBudget:
			pdb = x
		case *corev1.ConfigMap:
			cm = x
		case *smObject:
			sm = x
		}
	}
	for _, k := range append([]string{"ConfigMap", "Service", "Deployment", "PodDisruptionBudget"}, vs.kinds...) {
		if kinds[k] != 1 {
			t.Errorf("%d objects of kind %s, want 1 (kinds: %v)", kinds[k], k, kinds)
		}
	}
	if len(kinds) != 4+len(vs.kinds) {
		t.Errorf("kinds rendered: %v, want the base four and %v", kinds, vs.kinds)
	}
	if dep == nil || svc == nil || pdb == nil || cm == nil {
		t.FailNow()
	}
	pod := dep.Spec.Template
	checkDeployment(t, vs, dep)
	podLabels := labels.Set(pod.Labels)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not match the pod labels %v", svc.Spec.Selector, pod.Labels)
	}
	ports := containerPorts(pod.Spec.Containers[0])
	for _, p := range svc.Spec.Ports {
		if !ports[p.TargetPort.String()] {
			t.Errorf("Service port %s targets %s, not a container port", p.Name, p.TargetPort.String())
		}
	}
	mustMatch(t, "PodDisruptionBudget", pdb.Spec.Selector, podLabels)
	if sm != nil {
		mustMatch(t, "ServiceMonitor", &sm.Spec.Selector, labels.Set(svc.Labels))
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want admin /metrics", sm.Spec.Endpoints)
		}
	}
	checkConfig(t, vs, cm.Data["config.yaml"])
}

func checkDeployment(t *testing.T, vs valueSet, dep *appsv1.Deployment) {
	t.Helper()
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != vs.replicas {
		t.Errorf("replicas %v, want %d", dep.Spec.Replicas, vs.replicas)
	}
	mustMatch(t, "Deployment", dep.Spec.Selector, labels.Set(dep.Spec.Template.Labels))
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := containerPorts(c)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Port.String() != "admin" || !ports["admin"] {
			t.Errorf("%s probe on port %s, want the admin port", name, p.HTTPGet.Port.String())
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness path %s", c.ReadinessProbe.HTTPGet.Path)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("volume mount %s has no volume", m.Name)
		}
	}
	if _, ok := volumes["tls"]; ok != vs.wantTLS {
		t.Errorf("tls volume: %v, want %v", ok, vs.wantTLS)
	}
	if v, ok := volumes["postgres"]; ok != vs.wantPostgres || (ok && v.Secret.Items[0].Path != "dsn") {
		t.Errorf("postgres DSN volume: %+v, want %v", v, vs.wantPostgres)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("the container must run as non-root on a read-only root file system")
	}
	if vs.storage == "sqlite" && dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("SQLite needs the Recreate strategy, got %s", dep.Spec.Strategy.Type)
	}
}

// checkConfig parses the Gatehouse configuration of the ConfigMap and checks what the chart sets.
func checkConfig(t *testing.T, vs valueSet, text string) {
	t.Helper()
	var cfg struct {
		Issuer string `json:"issuer"`
		Web    struct {
			HTTP    string `json:"http"`
			HTTPS   string `json:"https"`
			TLSCert string `json:"tls_cert"`
		} `json:"web"`
		Admin struct {
			HTTP string `json:"http"`
		} `json:"admin"`
		Storage struct {
			Type   string            `json:"type"`
			Config map[string]string `json:"config"`
		} `json:"storage"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, text)
	}
	if cfg.Web.HTTP != ":5556" || cfg.Admin.HTTP != ":5558" || cfg.Issuer == "" {
		t.Errorf("listeners: web.http %q admin.http %q issuer %q", cfg.Web.HTTP, cfg.Admin.HTTP, cfg.Issuer)
	}
	if (cfg.Web.HTTPS != "") != vs.wantTLS || (vs.wantTLS && cfg.Web.TLSCert != "/etc/gatehouse/tls/tls.crt") {
		t.Errorf("web.https %q tls_cert %q, want TLS %v", cfg.Web.HTTPS, cfg.Web.TLSCert, vs.wantTLS)
	}
	if cfg.Storage.Type != vs.storage {
		t.Errorf("storage.type %q, want %q", cfg.Storage.Type, vs.storage)
	}
	if vs.wantPostgres && cfg.Storage.Config["dsn_file"] != "/etc/gatehouse/postgres/dsn" {
		t.Errorf("postgres: storage.config %v, want dsn_file", cfg.Storage.Config)
	}
}

func containerPorts(c corev1.Container) map[string]bool {
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
		ports[fmt.Sprint(p.ContainerPort)] = true
	}
	return ports
}

func mustMatch(t *testing.T, what string, sel *metav1.LabelSelector, set labels.Set) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s selector: %v", what, err)
		return
	}
	if s.Empty() || !s.Matches(set) {
		t.Errorf("%s selector %v does not match labels %v", what, s, set)
	}
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	if sm, ok := o.(*smObject); ok {
		return &sm.ObjectMeta, nil
	}
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, errors.New("object without metadata")
	}
	return m, nil
}

// checkMeta validates the name and labels with the API server's rules.
func checkMeta(t *testing.T, kind string, m metav1.Object) {
	t.Helper()
	for _, msg := range validation.IsDNS1123Subdomain(m.GetName()) {
		t.Errorf("%s name %q: %s", kind, m.GetName(), msg)
	}
	for k, v := range m.GetLabels() {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			t.Errorf("%s label %s=%s: %s", kind, k, v, msg)
		}
	}
	if m.GetLabels()["app.kubernetes.io/name"] != "gatehouse" {
		t.Errorf("%s %s lacks the app.kubernetes.io/name label", kind, m.GetName())
	}
}
