{{/*
One role's Deployment: `onair serve --config /run/onair/onair.toml --role ROLE`.
Called as (dict "root" $ "role" "api"), with the role's values at .Values.<role>;
"statefulSet" true makes it a StatefulSet (SFU pods with a name each, sfu.podHost).
*/}}
{{- define "onair.deployment" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $r := index $root.Values $role -}}
{{- $name := printf "%s-%s" (include "onair.fullname" $root) $role -}}
{{- $sfu := eq $role "sfu" -}}
{{- $sts := and $sfu .statefulSet -}}
{{- $s3 := and $root.Values.s3.enabled (or (eq $role "api") (eq $role "egress")) -}}
{{- $http := int $root.Values.ports.http -}}
{{- $metrics := $root.Values.metrics.enabled -}}
{{- $metricsPort := int ($r.metricsPort | default $root.Values.metrics.port) -}}
{{- if and $metrics (or (eq $metricsPort $http) (eq $metricsPort (int $root.Values.ports.rtmp))) -}}
{{- fail (printf "%s: the metrics port (%d) must differ from ports.http and ports.rtmp" $role $metricsPort) -}}
{{- end -}}
apiVersion: apps/v1
kind: {{ ternary "StatefulSet" "Deployment" $sts }}
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "onair.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $role }}
spec:
  replicas: {{ int $r.replicas }}
  {{- if $sts }}
  serviceName: {{ $name }}
  # All at once, and on upgrade one at a time: a pod drains, then its node's
  # ports are free for the new one.
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  {{- else if $sfu }}
  # The new pod needs the node ports the old one holds.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "onair.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ $role }}
  template:
    metadata:
      labels:
        {{- include "onair.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $role }}
      annotations:
        checksum/config: {{ include "onair.toml" $root | sha256sum }}
        {{- if $metrics }}
        # For a Prometheus that discovers pods by annotation (metrics_listen, no token).
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $metricsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      # SIGTERM drains: calls up to drain_timeout, jobs within shutdown_timeout,
      # connections 5 s; the kubelet waits longer than all three.
      terminationGracePeriodSeconds: {{ include "onair.terminationGrace" $root }}
      {{- if $sfu }}
      # The media port is the node's: clients send UDP to the node's address.
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        # Puts together the onair.toml this pod reads: the SFU's ICE candidates
        # (this node's IP, which no ConfigMap can know), this role's
        # metrics_listen, the ConfigMap, and the [s3] section from its Secret
        # (OnAir reads S3 keys from the file only).
        - name: config
          image: {{ printf "%s:%s" $root.Values.image.repository ($root.Values.image.tag | default $root.Chart.AppVersion) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["/bin/sh", "-ec"]
          args:
            - |
              out=/run/onair/onair.toml
              : > "$out"
              {{- if $sfu }}
              {{- $candidates := list }}
              {{- if $r.announceHostIP }}
              {{- $candidates = append $candidates (printf "${HOST_IP}:%d" (int $root.Values.ports.rtcUdp)) }}
              {{- end }}
              {{- range $r.rtcCandidates }}
              {{- $candidates = append $candidates . }}
              {{- end }}
              {{- if not $candidates }}
              {{- fail "sfu: set announceHostIP or rtcCandidates: ICE must announce a reachable address" }}
              {{- end }}
              echo "rtc_candidates = {{ $candidates | toJson | replace "\"" "\\\"" }}" >> "$out"
              {{- end }}
              {{- if $metrics }}
              echo 'metrics_listen = "0.0.0.0:{{ $metricsPort }}"' >> "$out"
              {{- end }}
              cat /etc/onair/config/onair.toml >> "$out"
              {{- if $s3 }}
              cat /etc/onair/s3/s3.toml >> "$out"
              {{- end }}
          {{- if $sfu }}
          env:
            - name: HOST_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.hostIP
          {{- end }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: config
              mountPath: /etc/onair/config
              readOnly: true
            {{- if $s3 }}
            - name: s3
              mountPath: /etc/onair/s3
              readOnly: true
            {{- end }}
            - name: run
              mountPath: /run/onair
      containers:
        - name: onair
          image: {{ printf "%s:%s" $root.Values.image.repository ($root.Values.image.tag | default $root.Chart.AppVersion) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["--config", "/run/onair/onair.toml", "--role", {{ $role | quote }}]
          env:
            {{- include "onair.secretEnv" (dict "root" $root "name" "ONAIR_API_KEY") | nindent 12 }}
            {{- include "onair.secretEnv" (dict "root" $root "name" "ONAIR_API_SECRET") | nindent 12 }}
            {{- include "onair.secretEnv" (dict "root" $root "name" "ONAIR_REDIS_URL") | nindent 12 }}
            {{- if or (eq $role "api") $sfu }}
            {{- include "onair.secretEnv" (dict "root" $root "name" "ONAIR_DATABASE_URL") | nindent 12 }}
            {{- end }}
            {{- if $sts }}
            # This pod's public signal URL (sfu.podHost), in the SFU registry.
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: ONAIR_SIGNAL_URL
              value: {{ printf "%s://%s" (include "onair.wsScheme" $root) (replace "{pod}" "$(POD_NAME)" $r.podHost) | quote }}
            {{- end }}
            {{- if eq $role "egress" }}
            # Egress joins calls as a hidden recorder through the SFU, inside the cluster
            # (with several SFU pods, at the one hosting the call, by its podHost).
            - name: ONAIR_SIGNAL_URL
              value: {{ printf "ws://%s-sfu.%s.svc:%d" (include "onair.fullname" $root) $root.Release.Namespace $http | quote }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ $http }}
              protocol: TCP
              {{- if $sfu }}
              hostPort: {{ $http }}
              {{- end }}
            {{- if $sfu }}
            - name: rtc-udp
              containerPort: {{ int $root.Values.ports.rtcUdp }}
              hostPort: {{ int $root.Values.ports.rtcUdp }}
              protocol: UDP
            {{- if $root.Values.turn.enabled }}
            - name: turn
              containerPort: {{ int $root.Values.turn.udpPort }}
              hostPort: {{ int $root.Values.turn.udpPort }}
              protocol: UDP
            {{- end }}
            {{- end }}
            {{- if eq $role "ingest" }}
            - name: rtmp
              containerPort: {{ int $root.Values.ports.rtmp }}
              protocol: TCP
            {{- end }}
            {{- if $metrics }}
            # GET /metrics without a token; in no Service the Ingress routes to.
            - name: metrics
              containerPort: {{ $metricsPort }}
              protocol: TCP
              {{- if $sfu }}
              hostPort: {{ $metricsPort }}
              {{- end }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          # Ready: not draining, and the bus (and on the api, Postgres) answers.
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          {{- with $r.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: run
              mountPath: /run/onair
              readOnly: true
            - name: data
              mountPath: /var/lib/onair
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: config
          configMap:
            name: {{ include "onair.fullname" $root }}-config
        {{- if $s3 }}
        - name: s3
          secret:
            secretName: {{ include "onair.s3SecretName" $root }}
            defaultMode: 0400
        {{- end }}
        - name: run
          emptyDir:
            medium: Memory
            sizeLimit: 1Mi
        - name: tmp
          emptyDir: {}
        - name: data
          {{- if and $root.Values.persistence.existingClaim (or (eq $role "api") (eq $role "egress")) }}
          persistentVolumeClaim:
            claimName: {{ $root.Values.persistence.existingClaim }}
          {{- else }}
          emptyDir: {}
          {{- end }}
      {{- with $r.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
