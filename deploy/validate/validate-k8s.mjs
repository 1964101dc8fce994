// Offline checks of the Kubernetes manifests in a directory (deploy/k8s):
//   node validate-k8s.mjs DIR
//
// 1. Every document validates against the Kubernetes API schema of its kind
//    (kubernetes-models: types, enums, required fields; the API's schemas allow
//    unknown fields, so a misspelt optional field is not caught here).
// 2. The objects fit together: selectors match pod labels, Services and
//    PodDisruptionBudgets select a workload, StatefulSets name an existing
//    Service, every ConfigMap, Secret, PersistentVolumeClaim and key a pod
//    refers to exists, Ingress backends name a Service and its port, volume
//    mounts name volumes, probes and Services name container ports, every
//    container requests CPU and memory, every object is in the namespace.
// 3. kustomization.yaml lists existing files, and every manifest but the
//    planned ones (a header comment starting "# PLANNED") is listed.
// Prints one line per problem and exits 1 when there is any.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1";

const MODELS = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "networking.k8s.io/v1/Ingress": Ingress,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};
const NAMESPACE = "fleet";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node validate-k8s.mjs DIR");
  process.exit(2);
}
const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const objects = [];
let kustomization = null;
const planned = new Set();
for (const file of files) {
  const text = readFileSync(join(dir, file), "utf8");
  if (/^# PLANNED/m.test(text.split("\n").slice(0, 3).join("\n"))) planned.add(file);
  const docs = parseAllDocuments(text);
  docs.forEach((doc, i) => {
    const where = `${file}[${i}]`;
    if (doc.errors.length) {
      for (const e of doc.errors) problem(where, `YAML: ${e.message}`);
      return;
    }
    const obj = doc.toJS();
    if (obj === null) return;
    if (obj.kind === "Kustomization") {
      kustomization = { file, obj };
      return;
    }
    const key = `${obj.apiVersion}/${obj.kind}`;
    const Model = MODELS[key];
    const name = obj.metadata?.name ?? "?";
    const label = `${file}: ${obj.kind} ${name}`;
    if (!Model) {
      problem(label, `no schema for ${key} here: add it to MODELS`);
      return;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      problem(label, `schema: ${e.message}`);
    }
    objects.push({ file, label, obj });
  });
}

const byKind = (kind) => objects.filter((o) => o.obj.kind === kind);
const find = (kind, name) => byKind(kind).find((o) => o.obj.metadata.name === name);
const subset = (sel, labels) =>
  !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels?.[k] === v);

// Namespaces and names.
const seen = new Set();
for (const { label, obj } of objects) {
  const id = `${obj.kind}/${obj.metadata.name}`;
  if (seen.has(id)) problem(label, "defined twice");
  seen.add(id);
  if (obj.kind !== "Namespace" && obj.metadata.namespace !== NAMESPACE)
    problem(label, `namespace is ${obj.metadata.namespace}, not ${NAMESPACE}`);
}

// Workloads.
const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
for (const { label, obj } of workloads) {
  const spec = obj.spec;
  const tpl = spec.template;
  const podLabels = tpl.metadata?.labels ?? {};
  if (!subset(spec.selector?.matchLabels, podLabels))
    problem(label, "selector.matchLabels do not match the pod template's labels");
  if (obj.kind === "StatefulSet") {
    const svc = find("Service", spec.serviceName);
    if (!svc) problem(label, `serviceName ${spec.serviceName}: no such Service`);
  }
  const volumes = new Set([
    ...(tpl.spec.volumes ?? []).map((v) => v.name),
    ...(spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name),
  ]);
  for (const v of tpl.spec.volumes ?? []) {
    if (v.configMap && !find("ConfigMap", v.configMap.name))
      problem(label, `volume ${v.name}: no ConfigMap ${v.configMap.name}`);
    if (v.secret && !find("Secret", v.secret.secretName))
      problem(label, `volume ${v.name}: no Secret ${v.secret.secretName}`);
    if (v.persistentVolumeClaim && !find("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
      problem(label, `volume ${v.name}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
  }
  for (const c of tpl.spec.containers) {
    const where = `${label} container ${c.name}`;
    const ports = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
    const req = c.resources?.requests ?? {};
    if (!req.cpu || !req.memory) problem(where, "no cpu and memory requests");
    if (!c.resources?.limits?.memory) problem(where, "no memory limit");
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) problem(where, `volumeMount ${m.name}: no such volume`);
      const vol = (tpl.spec.volumes ?? []).find((v) => v.name === m.name);
      if (m.subPath && vol?.configMap) {
        const cm = find("ConfigMap", vol.configMap.name);
        if (cm && !(m.subPath in (cm.obj.data ?? {})))
          problem(where, `subPath ${m.subPath}: not a key of ConfigMap ${vol.configMap.name}`);
      }
    }
    for (const src of c.envFrom ?? []) {
      if (src.configMapRef && !find("ConfigMap", src.configMapRef.name))
        problem(where, `envFrom: no ConfigMap ${src.configMapRef.name}`);
      if (src.secretRef && !find("Secret", src.secretRef.name))
        problem(where, `envFrom: no Secret ${src.secretRef.name}`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
      if (!ref) continue;
      const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
      const o = find(kind, ref.name);
      const keys = { ...(o?.obj.data ?? {}), ...(o?.obj.stringData ?? {}) };
      if (!o) problem(where, `env ${e.name}: no ${kind} ${ref.name}`);
      else if (!(ref.key in keys)) problem(where, `env ${e.name}: ${kind} ${ref.name} has no key ${ref.key}`);
    }
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const p = c[probe];
      const port = p?.httpGet?.port ?? p?.tcpSocket?.port;
      if (typeof port === "string" && !ports.has(port))
        problem(where, `${probe}: no container port named ${port}`);
    }
  }
}

// Services and PodDisruptionBudgets select a workload; named target ports exist.
for (const { label, obj } of byKind("Service")) {
  const sel = obj.spec.selector;
  const targets = workloads.filter((w) => subset(sel, w.obj.spec.template.metadata?.labels));
  if (!targets.length) {
    problem(label, "selects no workload");
    continue;
  }
  for (const p of obj.spec.ports ?? []) {
    if (typeof p.targetPort !== "string") continue;
    const ok = targets.some((w) =>
      w.obj.spec.template.spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)));
    if (!ok) problem(label, `targetPort ${p.targetPort}: no container port of that name`);
  }
}
for (const { label, obj } of byKind("Ingress")) {
  const backends = (obj.spec.rules ?? []).flatMap((r) => (r.http?.paths ?? []).map((p) => p.backend));
  if (obj.spec.defaultBackend) backends.push(obj.spec.defaultBackend);
  for (const b of backends) {
    const svc = b?.service && find("Service", b.service.name);
    if (!svc) {
      problem(label, `backend: no Service ${b?.service?.name}`);
      continue;
    }
    const port = b.service.port ?? {};
    if (!(svc.obj.spec.ports ?? []).some((p) => (port.name ? p.name === port.name : p.port === port.number)))
      problem(label, `backend: Service ${b.service.name} has no port ${port.name ?? port.number}`);
  }
}
for (const { label, obj } of byKind("PodDisruptionBudget")) {
  const sel = obj.spec.selector?.matchLabels;
  if (!workloads.some((w) => subset(sel, w.obj.spec.template.metadata?.labels)))
    problem(label, "selects no workload");
}

// kustomization.yaml
if (!kustomization) {
  problem(dir, "no kustomization.yaml");
} else {
  const listed = new Set(kustomization.obj.resources ?? []);
  for (const r of listed) if (!files.includes(r)) problem(kustomization.file, `resource ${r}: no such file`);
  for (const f of files) {
    if (f === kustomization.file) continue;
    if (planned.has(f) && listed.has(f)) problem(kustomization.file, `${f} is marked PLANNED but listed`);
    if (!planned.has(f) && !listed.has(f)) problem(kustomization.file, `${f} is not listed`);
  }
}

for (const p of problems) console.log(`not ok - ${p}`);
console.log(`k8s: ${objects.length} objects in ${files.length} files, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
