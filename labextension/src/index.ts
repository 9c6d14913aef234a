import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { MlopsSidebar } from './sidebar';

const GPU_ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M4 6h16v10H4zM2 4v14h3v2h2v-2h2v2h2v-2h2v2h2v-2h2v2h2v-2h1V4zm6 4h8v6H8z"/></svg>';

export const gpuIcon = new LabIcon({ name: 'jupyter-mlops:gpu', svgstr: GPU_ICON_SVG });

const COMMAND_OPEN = 'jupyter-mlops:open-sidebar';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:sidebar',
  description: 'The MLOps sidebar: cluster GPUs, jobs and SSH.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new MlopsSidebar();
    sidebar.title.icon = gpuIcon;
    sidebar.title.caption = 'MLOps: GPUs and jobs';
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, sidebar.id);

    app.commands.addCommand(COMMAND_OPEN, {
      label: 'Show the MLOps sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    palette?.addItem({ command: COMMAND_OPEN, category: 'MLOps' });
  }
};

export default plugin;
