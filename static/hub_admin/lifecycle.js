/* Live progress of training and test runs on an assistant version's admin page: polls the
 * version's status while a job is queued or running, updates the bars, reloads when one ends. */
(function () {
  "use strict";
  var panel = document.getElementById("lifecycle");
  if (!panel) return;
  var url = panel.getAttribute("data-status-url");
  function active(status) { return status === "queued" || status === "running"; }
  function rows() { return Array.prototype.slice.call(panel.querySelectorAll("tr.job")); }
  function anyActive() { return rows().some(function (r) { return active(r.getAttribute("data-job-status")); }); }

  function update(data) {
    var finished = false;
    data.jobs.forEach(function (job) {
      var row = panel.querySelector('tr.job[data-job-id="' + job.id + '"]');
      if (!row) return;
      var before = row.getAttribute("data-job-status");
      row.querySelector("progress").value = job.progress;
      row.querySelector(".job-step").textContent = job.step;
      if (active(before) && !active(job.status)) finished = true;
      row.setAttribute("data-job-status", job.status);
    });
    if (finished) window.location.reload();
  }
  function poll() {
    if (!anyActive()) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(update)
      .catch(function () {})
      .then(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 500);
})();
