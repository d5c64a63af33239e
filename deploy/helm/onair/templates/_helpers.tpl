{{/*
Templates of this chart keep to the part of Helm's template language that
deploy/tests/gotemplate.py renders too (make test renders the chart with it):
if/else/range/with/define/include, variables, and the functions listed there.
*/}}

{{- define "onair.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "onair.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "onair.labels" -}}
{{ include "onair.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "onair.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else -}}
{{- include "onair.fullname" . }}-keys
{{- end -}}
{{- end -}}

{{- define "onair.s3SecretName" -}}
{{- if .Values.s3.existingSecret -}}
{{- .Values.s3.existingSecret -}}
{{- else -}}
{{- include "onair.fullname" . }}-s3
{{- end -}}
{{- end -}}

{{/* The scheme of signal URLs: wss behind https. */}}
{{- define "onair.wsScheme" -}}
{{- ternary "wss" "ws" (eq .Values.publicScheme "https") -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: the drain, the jobs' shutdown, and room for open connections. */}}
{{- define "onair.terminationGrace" -}}
{{- add .Values.drainTimeoutSeconds .Values.shutdownTimeoutSeconds .Values.terminationGraceExtraSeconds -}}
{{- end -}}

{{/* A TOML scalar of a values setting: string, bool or integer. */}}
{{- define "onair.tomlScalar" -}}
{{- if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else -}}
{{- int64 . -}}
{{- end -}}
{{- end -}}

{{/* One [section] of onair.toml from a map of scalars. */}}
{{- define "onair.tomlSection" -}}
[{{ .name }}]
{{- range $key, $value := .values }}
{{ $key }} = {{ include "onair.tomlScalar" $value }}
{{- end }}
{{- end -}}

{{/*
onair.toml without secrets (those come from the environment, and [s3] from
its Secret). Every role reads the same file; the SFU pods put their ICE
candidates in front of it at start (see the deployment's init container).
*/}}
{{- define "onair.toml" -}}
{{- $c := .Values.config -}}
{{- $http := int .Values.ports.http -}}
{{- $public := printf "%s://%s" .Values.publicScheme (required "publicHost is required" .Values.publicHost) -}}
{{- $ws := include "onair.wsScheme" . -}}
# Made by the onair Helm chart from its values.
listen = {{ printf "0.0.0.0:%d" $http | quote }}
# A subdirectory of the mounted volume, so that OnAir owns it (it makes it 0700).
data_dir = "/var/lib/onair/data"
signal_url = {{ printf "%s://%s" $ws .Values.publicHost | quote }}
public_url = {{ $public | quote }}
link_ttl = {{ $c.link_ttl | quote }}
join_token_ttl = {{ $c.join_token_ttl | quote }}
rtc_udp = {{ printf "0.0.0.0:%d" (int .Values.ports.rtcUdp) | quote }}
rtc_workers = {{ int64 $c.rtc_workers }}
rtc_participant_timeout = {{ $c.rtc_participant_timeout | quote }}
rtmp_listen = {{ printf "0.0.0.0:%d" (int .Values.ports.rtmp) | quote }}
rtmp_url = {{ printf "rtmp://%s:%d/live" .Values.rtmpHost (int .Values.ports.rtmp) | quote }}
{{- if .Values.ingest.enabled }}
whip_url = {{ printf "%s/whip" $public | quote }}
{{- end }}
# Ingest and egress pods reach the API inside the cluster.
api_url = {{ printf "http://%s-api.%s.svc:%d" (include "onair.fullname" .) .Release.Namespace $http | quote }}
drain_timeout = {{ printf "%ds" (int .Values.drainTimeoutSeconds) | quote }}
shutdown_timeout = {{ printf "%ds" (int .Values.shutdownTimeoutSeconds) | quote }}
cors_origins = {{ $c.cors_origins | default (list) | toJson }}
webhook_retry_for = {{ $c.webhook_retry_for | quote }}

{{ include "onair.tomlSection" (dict "name" "egress" "values" $c.egress) }}

{{ include "onair.tomlSection" (dict "name" "limits" "values" $c.limits) }}

{{ include "onair.tomlSection" (dict "name" "hls" "values" $c.hls) }}
{{- with .Values.turn }}
{{- if .enabled }}

# The embedded TURN server: it runs in the sfu pods (host network); the api
# hands out its URL and credentials with each join.
[turn]
udp_listen = {{ printf "0.0.0.0:%d" (int .udpPort) | quote }}
public_host = {{ required "turn.publicHost is required with turn.enabled" .publicHost | quote }}
{{- with .publicIp }}
public_ip = {{ . | quote }}
{{- end }}
relay_ports = {{ .relayPorts | quote }}
max_allocations_per_user = {{ int .maxAllocationsPerUser }}
{{- end }}
{{- end }}
{{- with .Values.extraToml }}

{{ . }}
{{- end }}
{{ end -}}

{{/* The [s3] section, for the chart's S3 Secret. */}}
{{- define "onair.s3Toml" -}}
[s3]
{{- with .Values.s3.endpoint }}
endpoint = {{ toJson . }}
{{- end }}
region = {{ toJson .Values.s3.region }}
bucket = {{ toJson (required "s3.bucket is required with s3.enabled" .Values.s3.bucket) }}
access_key = {{ toJson (required "s3.accessKey is required with s3.enabled (or s3.existingSecret)" .Values.s3.accessKey) }}
secret_key = {{ toJson (required "s3.secretKey is required with s3.enabled (or s3.existingSecret)" .Values.s3.secretKey) }}
path_style = {{ .Values.s3.pathStyle }}
{{ end -}}

{{/* An environment variable from the keys Secret. */}}
{{- define "onair.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "onair.secretName" .root }}
      key: {{ .name }}
{{- end -}}
