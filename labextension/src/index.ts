import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { LabIcon } from '@jupyterlab/ui-components';

import { MlopsSidebar } from './sidebar';

const GPU_ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M4 6h16v10H4zM2 4v14h3v2h2v-2h2v2h2v-2h2v2h2v-2h2v2h2v-2h1V4zm6 4h8v6H8z"/></svg>';

export const gpuIcon = new LabIcon({ name: 'jupyter-mlops:gpu', svgstr: GPU_ICON_SVG });

const COMMAND_OPEN = 'jupyter-mlops:open-sidebar';
const COMMAND_SUBMIT = 'jupyter-mlops:submit-job';

/** The path of the document in the main area (a notebook or a file), if any. */
function currentDocumentPath(app: JupyterFrontEnd): string | null {
  const widget = app.shell.currentWidget as { context?: { path?: string } } | null;
  return widget?.context?.path ?? null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:sidebar',
  description: 'The MLOps sidebar: cluster GPUs, jobs and SSH.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    const sidebar = new MlopsSidebar(() => currentDocumentPath(app));
    sidebar.title.icon = gpuIcon;
    sidebar.title.caption = 'MLOps: GPUs and jobs';
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, sidebar.id);

    app.commands.addCommand(COMMAND_OPEN, {
      label: 'Show the MLOps sidebar',
      caption: 'Cluster GPUs, my jobs, job detail and SSH',
      icon: gpuIcon,
      execute: () => {
        sidebar.showView('overview');
        app.shell.activateById(sidebar.id);
      }
    });
    app.commands.addCommand(COMMAND_SUBMIT, {
      label: args => (args.isLauncher ? 'MLOps job' : 'Submit a GPU job (PyTorchJob, sweep, workflow)'),
      caption: 'Run the open notebook or a .py file on the cluster GPUs',
      icon: gpuIcon,
      execute: () => {
        sidebar.showView('submit');
        app.shell.activateById(sidebar.id);
      }
    });
    palette?.addItem({ command: COMMAND_OPEN, category: 'MLOps' });
    palette?.addItem({ command: COMMAND_SUBMIT, category: 'MLOps' });
    launcher?.add({ command: COMMAND_SUBMIT, category: 'Other', rank: 1, args: { isLauncher: true } });
  }
};

export default plugin;
