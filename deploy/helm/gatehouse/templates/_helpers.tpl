{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse.secretName" -}}
{{- default (printf "%s-secrets" (include "gatehouse.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/*
gatehouse.validate fails the render on values that cannot work, with a message saying what to
change. Every template that depends on them includes it.
*/}}
{{- define "gatehouse.validate" -}}
{{- $type := .Values.storage.type }}
{{- if not (has $type (list "sqlite" "postgres")) }}
{{- fail (printf "storage.type must be sqlite or postgres, not %q" $type) }}
{{- end }}
{{- if and (eq $type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount is %d but storage.type is sqlite: SQLite is one file on one volume and cannot be shared by several replicas. Set replicaCount: 1, or storage.type: postgres with storage.postgres.dsnSecret." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq $type "postgres") (not .Values.storage.postgres.dsnSecret.name) }}
{{- fail "storage.type is postgres but storage.postgres.dsnSecret.name is empty: name the Secret holding the PostgreSQL DSN" }}
{{- end }}
{{- if hasKey (.Values.config | default dict) "storage" }}
{{- fail "config.storage is set by the chart: use the storage values (storage.type, storage.postgres.dsnSecret) instead" }}
{{- end }}
{{- if and .Values.secrets.existingSecret .Values.secrets.data }}
{{- fail "secrets.existingSecret and secrets.data are both set: keep one" }}
{{- end }}
{{- end }}

{{/* The configuration file: the user's config with the chart's listeners and storage. */}}
{{- define "gatehouse.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $web := get $cfg "web" | default dict }}
{{- $_ := set $web "http" ":5556" }}
{{- if .Values.tls.secretName }}
{{- $_ := set $web "https" ":8443" }}
{{- $_ := set $web "tls_cert" "/etc/gatehouse/tls/tls.crt" }}
{{- $_ := set $web "tls_key" "/etc/gatehouse/tls/tls.key" }}
{{- end }}
{{- if not (hasKey $web "shutdown_delay") }}
{{- $_ := set $web "shutdown_delay" .Values.shutdownDelay }}
{{- end }}
{{- $_ := set $cfg "web" $web }}
{{- $_ := set $cfg "admin" (dict "http" (printf ":%d" (int .Values.admin.port))) }}
{{- if eq .Values.storage.type "postgres" }}
{{- $_ := set $cfg "storage" (dict "type" "postgres" "config" (dict "dsn_file" "/etc/gatehouse/postgres/dsn" "connect_timeout" .Values.storage.postgres.connectTimeout)) }}
{{- else }}
{{- $_ := set $cfg "storage" (dict "type" "sqlite" "config" (dict "file" .Values.storage.sqlite.file)) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
